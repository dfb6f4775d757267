import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { CONNECTION_STATUSES, type ConnectionStatus, type Provider, PROVIDERS } from '../providers.js';

export class ListConnectionsQueryDto {
  @ApiPropertyOptional({ enum: CONNECTION_STATUSES, description: 'Only connections with this status' })
  @IsOptional()
  @IsIn(CONNECTION_STATUSES, { message: `status must be one of: ${CONNECTION_STATUSES.join(', ')}` })
  status?: ConnectionStatus;

  @ApiPropertyOptional({ enum: PROVIDERS, description: 'Only the connection to this provider' })
  @IsOptional()
  @IsIn(PROVIDERS, { message: `provider must be one of: ${PROVIDERS.join(', ')}` })
  provider?: Provider;
}
