/** The contract's fixed shapes, as the API tests check them. */

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const INVALID_KEY_BODY = { detail: 'Invalid or missing API key' };
export const USER_NOT_FOUND_BODY = { detail: 'User not found' };

export const USER_KEYS = ['id', 'external_user_id', 'email', 'created_at', 'updated_at'].sort();
export const CONNECTION_KEYS = [
  'id',
  'user_id',
  'provider',
  'provider_user_id',
  'provider_username',
  'scope',
  'status',
  'last_synced_at',
  'created_at',
  'updated_at',
].sort();

export interface UserBody {
  id: string;
  external_user_id: string | null;
  email: string | null;
  created_at: string;
  updated_at: string;
}

export interface ConnectionBody {
  id: string;
  user_id: string;
  provider: string;
  provider_user_id: string | null;
  provider_username: string | null;
  scope: string | null;
  status: string;
  last_synced_at: string | null;
  created_at: string;
  updated_at: string;
}

export type Scope = 'read' | 'write' | 'admin';

/** The answer to POST /api/v1/api-keys: the only one that holds the key. */
export interface CreatedKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expires_at: string | null;
  created_at: string;
  key: string;
}
