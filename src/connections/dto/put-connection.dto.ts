import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { ApiRequestBody, ISO_TIME_SCHEMA } from '../../common/api-docs.js';
import { IsIsoTime } from '../../common/iso-time.validator.js';
import { CONNECTION_STATUSES, type ConnectionStatus } from '../providers.js';

const TOKEN_MAX = 16_384;

/** The body of PUT /api/v1/users/{user_id}/connections/{provider}. */
@ApiRequestBody('ConnectionInput', "A connection to create or replace. Unknown fields are rejected (400).")
export class PutConnectionDto {
  @ApiProperty({ description: "The provider's OAuth access token. Stored encrypted, never returned.", minLength: 1, maxLength: TOKEN_MAX })
  @IsString()
  @IsNotEmpty({ message: 'access_token must not be empty' })
  @MaxLength(TOKEN_MAX)
  access_token: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: TOKEN_MAX,
    description: 'The OAuth refresh token. Stored encrypted, never returned.',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty({ message: 'refresh_token must not be empty; send null or leave it out for none' })
  @MaxLength(TOKEN_MAX)
  refresh_token?: string | null;

  @ApiPropertyOptional({ ...ISO_TIME_SCHEMA, nullable: true, description: 'When the access token lapses', example: '2024-03-15T11:30:00Z' })
  @IsOptional()
  @IsIsoTime()
  token_expires_at?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 255, example: '9876543210' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  provider_user_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 255, example: 'john_runner' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  provider_username?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 2048, example: 'ACTIVITY_EXPORT HEALTH_EXPORT' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  scope?: string | null;

  @ApiPropertyOptional({ enum: CONNECTION_STATUSES, default: 'active' })
  @IsOptional()
  @IsIn(CONNECTION_STATUSES, { message: `status must be one of: ${CONNECTION_STATUSES.join(', ')}` })
  status?: ConnectionStatus;

  @ApiPropertyOptional({ ...ISO_TIME_SCHEMA, nullable: true, example: '2024-03-15T10:30:00Z' })
  @IsOptional()
  @IsIsoTime()
  last_synced_at?: string | null;
}
