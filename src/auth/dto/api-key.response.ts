import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { isoTime } from '../../common/iso-time.js';
import type { ApiKeyRow } from '../api-keys.repository.js';
import { type Scope, SCOPES } from '../scopes.js';

@ApiSchema({ name: 'ApiKey', description: 'An API key, without its secret' })
export class ApiKeyResponse {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'dashboard backend' })
  name: string;

  @ApiProperty({ description: "To recognise the key by: `sha256:` and the first 8 hex digits of the key's SHA-256 hash (no part of the key itself)", example: 'sha256:9b9f5cf2' })
  prefix: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['read'] })
  scopes: Scope[];

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expires_at: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_used_at: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revoked_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

@ApiSchema({ name: 'CreatedApiKey', description: 'A new API key, with its secret: the only time it is shown' })
export class CreatedApiKeyResponse {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'dashboard backend' })
  name: string;

  @ApiProperty({ description: "To recognise the key by: `sha256:` and the first 8 hex digits of the key's SHA-256 hash (no part of the key itself)", example: 'sha256:9b9f5cf2' })
  prefix: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['read'] })
  scopes: Scope[];

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expires_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ description: 'The key itself. Shown in this response only; store it now.', example: 'wck_1AAYFS0sf1KywfvXXeDLSNUHCXiSN17Hf59ptplb5Uw' })
  key: string;
}

export function toApiKeyResponse(row: ApiKeyRow): ApiKeyResponse {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    expires_at: isoTime(row.expires_at),
    last_used_at: isoTime(row.last_used_at),
    revoked_at: isoTime(row.revoked_at),
    created_at: isoTime(row.created_at)!,
  };
}

/** A key just created, with its secret: the one response that shows it. */
export function toCreatedApiKeyResponse(row: ApiKeyRow & { key: string }): CreatedApiKeyResponse {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    expires_at: isoTime(row.expires_at),
    created_at: isoTime(row.created_at)!,
    key: row.key,
  };
}
