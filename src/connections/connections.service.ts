import { Injectable, NotFoundException } from '@nestjs/common';
import { TokenCipher, tokenContext } from '../crypto/token-cipher.js';
import { Sql, sqlState } from '../database/sql.js';
import { USER_NOT_FOUND } from '../users/users.service.js';
import { type ConnectionResponse, type ConnectionRow, toConnectionResponse } from './connection-response.js';
import type { PutConnectionDto } from './dto/put-connection.dto.js';
import type { ConnectionStatus, Provider } from './providers.js';

const FOREIGN_KEY_VIOLATION = '23503';

export const CONNECTION_NOT_FOUND = 'Connection not found';

export interface ConnectionFilter {
  status?: ConnectionStatus;
  provider?: Provider;
}

/**
 * The status a reader sees. An active connection whose access token has lapsed and which has no
 * refresh token cannot be used any more, so it reads as `expired` from that instant on.
 */
const STATUS = `CASE WHEN c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  THEN 'expired' ELSE c.status END`;

const COLUMNS = `c.id, c.user_id, c.provider, c.provider_user_id, c.provider_username, c.scope, ${STATUS} AS status,
  c.last_synced_at, c.created_at, c.updated_at`;

// One round trip tells an unknown user (no row) from a user without connections (one row of nulls).
const LIST_FOR_USER = `
  SELECT ${COLUMNS}
    FROM users u
    LEFT JOIN connections c ON c.user_id = u.id
     AND ($2::text IS NULL OR ${STATUS} = $2)
     AND ($3::text IS NULL OR c.provider = $3)
   WHERE u.id = $1
   ORDER BY c.last_synced_at DESC NULLS LAST, c.provider`;

const UPSERT = `
  INSERT INTO connections AS c (user_id, provider, access_token, refresh_token, token_expires_at,
                                provider_user_id, provider_username, scope, status, last_synced_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (user_id, provider) DO UPDATE SET
    access_token = EXCLUDED.access_token,
    refresh_token = EXCLUDED.refresh_token,
    token_expires_at = EXCLUDED.token_expires_at,
    provider_user_id = EXCLUDED.provider_user_id,
    provider_username = EXCLUDED.provider_username,
    scope = EXCLUDED.scope,
    status = EXCLUDED.status,
    last_synced_at = coalesce(EXCLUDED.last_synced_at, c.last_synced_at),
    updated_at = now()
  RETURNING ${COLUMNS}, (xmax = 0) AS created`;

// A repeated disconnect changes nothing, not even updated_at.
const DISCONNECT = `
  UPDATE connections
     SET status = 'revoked', access_token = NULL, refresh_token = NULL, token_expires_at = NULL,
         updated_at = CASE WHEN status = 'revoked' AND access_token IS NULL AND refresh_token IS NULL
                           THEN updated_at ELSE now() END
   WHERE user_id = $1 AND provider = $2
  RETURNING id`;

@Injectable()
export class ConnectionsService {
  constructor(
    private readonly sql: Sql,
    private readonly cipher: TokenCipher,
  ) {}

  /**
   * The user's connections, optionally filtered: the most recently synced first, never-synced last,
   * ties by provider name. Throws NotFoundException for an unknown user; a user without connections gets [].
   */
  async listForUser(userId: string, filter: ConnectionFilter = {}): Promise<ConnectionResponse[]> {
    const rows = await this.sql.rows<ConnectionRow>(
      LIST_FOR_USER,
      [userId, filter.status ?? null, filter.provider ?? null],
      'connections_list_for_user',
    );
    if (rows.length === 0) throw new NotFoundException(USER_NOT_FOUND);
    return rows[0].id === null ? [] : rows.map(toConnectionResponse);
  }

  /**
   * Creates or replaces the user's connection to the provider (one per user and provider); tokens are stored encrypted.
   * Fields left out are cleared, except last_synced_at, which a re-authorisation keeps.
   * Throws NotFoundException for an unknown user.
   */
  async put(
    userId: string,
    provider: Provider,
    grant: PutConnectionDto,
  ): Promise<{ connection: ConnectionResponse; created: boolean }> {
    try {
      const [row] = await this.sql.rows<ConnectionRow & { created: boolean }>(UPSERT, [
        userId,
        provider,
        this.cipher.encrypt(grant.access_token, tokenContext(userId, provider, 'access_token')),
        grant.refresh_token ? this.cipher.encrypt(grant.refresh_token, tokenContext(userId, provider, 'refresh_token')) : null,
        grant.token_expires_at ?? null,
        grant.provider_user_id ?? null,
        grant.provider_username ?? null,
        grant.scope ?? null,
        grant.status ?? 'active',
        grant.last_synced_at ?? null,
      ]);
      return { connection: toConnectionResponse(row), created: row.created };
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new NotFoundException(USER_NOT_FOUND);
      throw error;
    }
  }

  /**
   * Disconnects: the connection becomes `revoked` and its tokens are erased. Repeating it is harmless.
   * Throws NotFoundException for an unknown user or a provider the user never connected.
   */
  async disconnect(userId: string, provider: Provider): Promise<void> {
    const rows = await this.sql.rows(DISCONNECT, [userId, provider]);
    if (rows.length > 0) return;
    const [user] = await this.sql.rows(`SELECT 1 FROM users WHERE id = $1`, [userId]);
    throw new NotFoundException(user ? CONNECTION_NOT_FOUND : USER_NOT_FOUND);
  }
}
