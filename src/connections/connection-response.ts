import { isoTime } from '../common/iso-time.js';
import type { ConnectionStatus, Provider } from './providers.js';

/** A connection as the spec describes it. It has no token field, by construction. */
export interface ConnectionResponse {
  id: string;
  user_id: string;
  provider: Provider;
  provider_user_id: string | null;
  provider_username: string | null;
  scope: string | null;
  status: ConnectionStatus;
  last_synced_at: string | null;
  created_at: string;
  updated_at: string;
}

/** The columns a connection is read with; tokens are not among them. */
export interface ConnectionRow {
  id: string;
  user_id: string;
  provider: Provider;
  provider_user_id: string | null;
  provider_username: string | null;
  scope: string | null;
  status: ConnectionStatus;
  last_synced_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function toConnectionResponse(row: ConnectionRow): ConnectionResponse {
  return {
    id: row.id,
    user_id: row.user_id,
    provider: row.provider,
    provider_user_id: row.provider_user_id,
    provider_username: row.provider_username,
    scope: row.scope,
    status: row.status,
    last_synced_at: isoTime(row.last_synced_at),
    created_at: isoTime(row.created_at)!,
    updated_at: isoTime(row.updated_at)!,
  };
}
