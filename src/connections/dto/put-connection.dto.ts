import { IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { IsIsoTime } from '../../common/iso-time.validator.js';
import { CONNECTION_STATUSES, type ConnectionStatus } from '../providers.js';

const TOKEN_MAX = 16_384;

/** The body of PUT /api/v1/users/{user_id}/connections/{provider}. */
export class PutConnectionDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(TOKEN_MAX)
  access_token: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(TOKEN_MAX)
  refresh_token?: string | null;

  @IsOptional()
  @IsIsoTime()
  token_expires_at?: string | null;

  @IsOptional()
  @IsString()
  @MaxLength(255)
  provider_user_id?: string | null;

  @IsOptional()
  @IsString()
  @MaxLength(255)
  provider_username?: string | null;

  @IsOptional()
  @IsString()
  @MaxLength(2048)
  scope?: string | null;

  @IsOptional()
  @IsIn(CONNECTION_STATUSES, { message: `status must be one of: ${CONNECTION_STATUSES.join(', ')}` })
  status?: ConnectionStatus;

  @IsOptional()
  @IsIsoTime()
  last_synced_at?: string | null;
}
