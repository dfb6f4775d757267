import { ApiProperty, ApiSchema } from '@nestjs/swagger';

@ApiSchema({ name: 'Liveness', description: 'The process serves HTTP' })
export class LivenessResponse {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';
}

@ApiSchema({ name: 'Readiness', description: 'Every check passed: the database answers' })
export class ReadinessResponse {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';

  @ApiProperty({
    type: 'object',
    description: 'Each check, by name, and its status',
    properties: {
      database: { type: 'object', properties: { status: { type: 'string', enum: ['up'] } }, required: ['status'] },
    },
    required: ['database'],
    selfRequired: true,
    example: { database: { status: 'up' } },
  })
  info: { database: { status: 'up' } };
}
