import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { ApiRequestBody, ISO_TIME_SCHEMA } from '../../common/api-docs.js';
import { IsIsoTime } from '../../common/iso-time.validator.js';
import { type Scope, SCOPES } from '../scopes.js';

@ApiRequestBody('ApiKeyInput', 'An API key to create. Unknown fields are rejected (400).')
export class CreateApiKeyDto {
  @ApiProperty({ example: 'dashboard backend', minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiProperty({
    enum: SCOPES,
    isArray: true,
    minItems: 1,
    maxItems: SCOPES.length,
    uniqueItems: true,
    description: 'write includes read; admin includes both',
    example: ['read'],
  })
  @IsArray()
  @ArrayNotEmpty({ message: 'scopes must name at least one scope' })
  @ArrayUnique({ message: 'scopes must not name a scope twice' })
  @ArrayMaxSize(SCOPES.length)
  @IsIn(SCOPES, { each: true, message: `scopes must each be one of: ${SCOPES.join(', ')}` })
  scopes: Scope[];

  @ApiPropertyOptional({ ...ISO_TIME_SCHEMA, nullable: true, description: 'When the key stops working (in the future); never if absent or null' })
  @IsOptional()
  @IsIsoTime()
  expires_at?: string;
}
