import { isoTime } from '../common/iso-time.js';
import type { Scope } from './scopes.js';
import type { ApiKeyRow } from './api-keys.service.js';

export interface ApiKeyResponse {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
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
