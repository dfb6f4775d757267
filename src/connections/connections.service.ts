import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { UUID_PATTERN } from '../common/validation.js';
import { TokenCipher, tokenContext } from '../crypto/token-cipher.js';
import { Sql, sqlState } from '../database/sql.js';
import { type ConnectionResponse, type ConnectionRow, toConnectionResponse } from './connection-response.js';
import { ConnectionNotActiveError, ConnectionNotFoundError, UserNotFoundError } from './connection.errors.js';
import { CONNECTION_EVENTS, type ConnectionEvent, emitConnectionEvent, type StatusReason } from './connection.events.js';
import type { ConnectionStatus, Provider } from './providers.js';

export interface ConnectionFilter {
  status?: ConnectionStatus;
  provider?: Provider;
}

/** What an OAuth grant gives: the tokens, and what is known of the provider's account. */
export interface Grant {
  accessToken: string;
  refreshToken?: string | null;
  /** When the access token lapses. */
  expiresAt?: Date | null;
  scope?: string | null;
  providerUserId?: string | null;
  providerUsername?: string | null;
}

/** A connection as imported from another system (HTTP PUT): a grant with its status and last sync. */
export interface ImportedConnection extends Grant {
  status?: ConnectionStatus;
  lastSyncedAt?: Date | null;
}

/** The tokens a refresher is handed. */
export interface CurrentTokens {
  accessToken: string | null;
  refreshToken: string | null;
  expiresAt: Date | null;
}

/**
 * What a refresher reports: new tokens (a refresh token left undefined keeps the old one), or that
 * the provider rejected the grant. Anything it throws leaves the connection as it was.
 */
export type RefreshResult = { accessToken: string; refreshToken?: string | null; expiresAt?: Date | null } | { rejected: true };
export type Refresher = (current: CurrentTokens) => Promise<RefreshResult>;

export type RefreshOutcome =
  /** This call refreshed the tokens. */
  | { outcome: 'refreshed'; accessToken: string }
  /** A racing call refreshed them while this one waited; its token is returned and nothing was refreshed again. */
  | { outcome: 'already_refreshed'; accessToken: string }
  /** The provider rejected the grant: the connection is now revoked (reason refresh_failed). */
  | { outcome: 'revoked' };

const FOREIGN_KEY_VIOLATION = '23503';
const SWEEP_INTERVAL_MS = 60_000;

/**
 * The status a reader sees. An active connection whose access token has lapsed and which has no
 * refresh token cannot be used any more, so it reads as `expired` from that instant on.
 */
export const EFFECTIVE_STATUS = `CASE WHEN c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  THEN 'expired' ELSE c.status END`;

// The times are read as UTC text (see ConnectionRow), which is cheaper than Dates made and formatted.
const COLUMNS = `c.id, c.user_id, c.provider, c.provider_user_id, c.provider_username, c.scope,
  ${EFFECTIVE_STATUS} AS status, c.last_synced_at AT TIME ZONE 'UTC' AS last_synced_at,
  c.created_at AT TIME ZONE 'UTC' AS created_at, c.updated_at AT TIME ZONE 'UTC' AS updated_at`;

// One round trip tells an unknown user (no row) from a user without connections (one row of nulls).
const listForUser = (filters: string) => `
  SELECT ${COLUMNS}
    FROM users u
    LEFT JOIN connections c ON c.user_id = u.id${filters}
   WHERE u.id = $1
   ORDER BY c.last_synced_at DESC NULLS LAST, c.provider`;

// The unfiltered list (what nearly every caller asks for) has a statement of its own, so that the
// database does not evaluate two always-true conditions per row.
const LIST_FOR_USER = listForUser('');
const LIST_FOR_USER_FILTERED = listForUser(`
     AND ($2::text IS NULL OR ${EFFECTIVE_STATUS} = $2)
     AND ($3::text IS NULL OR c.provider = $3)`);

// `previous` is the status before the statement, read under the row's lock (null when the row is new).
// A row that another transaction inserted after this statement's snapshot conflicts, but `previous`
// cannot see it: then the update is skipped (no row comes back) and the caller runs the statement
// again, which sees that row. So exactly one of racing first writes creates the connection (the one
// whose `previous` is null), and every other one knows the status it replaced.
const UPSERT = `
  WITH previous AS (SELECT ${EFFECTIVE_STATUS} AS status FROM connections c WHERE user_id = $1 AND provider = $2 FOR UPDATE)
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
    status_reason = NULL,
    last_synced_at = coalesce(EXCLUDED.last_synced_at, c.last_synced_at),
    token_version = c.token_version + 1,
    updated_at = now()
  WHERE EXISTS (SELECT 1 FROM previous)
  RETURNING ${COLUMNS}, (SELECT status FROM previous) AS previous`;
/** How often UPSERT runs when rows keep appearing under it; each new run sees the rows of the last. */
const UPSERT_ATTEMPTS = 5;

// Erases the tokens in any case; `previous` tells whether the status changed. Nothing at all changes
// (updated_at included) for a connection already revoked with its tokens erased.
const REVOKE = `
  WITH previous AS (SELECT id, status FROM connections WHERE id = $1 FOR UPDATE)
  UPDATE connections c
     SET status = 'revoked', status_reason = CASE WHEN previous.status = 'revoked' THEN c.status_reason ELSE $2 END,
         access_token = NULL, refresh_token = NULL, token_expires_at = NULL,
         token_version = c.token_version + 1, updated_at = now()
    FROM previous
   WHERE c.id = previous.id AND NOT (c.status = 'revoked' AND c.access_token IS NULL AND c.refresh_token IS NULL)
  RETURNING ${COLUMNS}, previous.status AS previous`;

// Only an active connection expires: a revoked one stays revoked. Tokens are kept for a refresh.
const EXPIRE = `
  UPDATE connections c SET status = 'expired', status_reason = $2, updated_at = now()
   WHERE c.id = $1 AND c.status = 'active'
  RETURNING ${COLUMNS}`;

const SWEEP = `
  UPDATE connections c SET status = 'expired', status_reason = 'token_lapsed', updated_at = now()
   WHERE c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  RETURNING ${COLUMNS}`;

/**
 * Which wearable providers each user has connected. Other Nest modules import ConnectionsModule and
 * use this service; its statuses are true at the moment they are read, and every change of status
 * is announced as a ConnectionEvent (see CONNECTION_EVENTS). No method returns or logs a token,
 * except getAccessToken and refreshTokens, which exist for that.
 */
@Injectable()
export class ConnectionsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ConnectionsService.name);
  private readonly refreshing = new Map<string, Promise<RefreshOutcome>>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly sql: Sql,
    private readonly cipher: TokenCipher,
    private readonly events: EventEmitter2,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(() => {
      this.expireLapsed().catch((error: Error) => this.logger.warn(`Expiry sweep failed: ${error.message}`));
    }, SWEEP_INTERVAL_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /**
   * The user's connections, optionally filtered: the most recently synced first, never-synced last,
   * ties by provider name. A user without connections gets []. Throws UserNotFoundError.
   */
  async listForUser(userId: string, filter: ConnectionFilter = {}): Promise<ConnectionResponse[]> {
    userId = uuidOr(userId, UserNotFoundError);
    const status = filter.status ?? null;
    const provider = filter.provider ?? null;
    const rows =
      status === null && provider === null
        ? await this.sql.rows<ConnectionRow>(LIST_FOR_USER, [userId], 'connections_list_for_user')
        : await this.sql.rows<ConnectionRow>(LIST_FOR_USER_FILTERED, [userId, status, provider], 'connections_list_for_user_filtered');
    if (rows.length === 0) throw new UserNotFoundError();
    return rows[0].id === null ? [] : rows.map(toConnectionResponse);
  }

  /**
   * Creates the user's connection to the provider, or reactivates it, with the grant's tokens and
   * scope; it is `active` afterwards. Emits connection.created (reason `linked`, or `relinked` when
   * a revoked or expired connection comes back). Throws UserNotFoundError.
   */
  async link(userId: string, provider: Provider, grant: Grant): Promise<ConnectionResponse> {
    return (await this.upsert(userId, provider, { ...grant, status: 'active' })).connection;
  }

  /**
   * Creates or replaces the user's connection to the provider, as imported from another system
   * (the HTTP PUT). Fields left out are cleared, except lastSyncedAt, which is kept. A revoked
   * connection keeps no tokens: with status `revoked`, the tokens given (and their expiry) are not
   * stored. A change of status is announced as link() and the mark methods do; of calls racing to
   * create the same connection, exactly one reports `created`. Throws UserNotFoundError.
   */
  async upsert(
    userId: string,
    provider: Provider,
    connection: ImportedConnection,
  ): Promise<{ connection: ConnectionResponse; created: boolean }> {
    userId = uuidOr(userId, UserNotFoundError);
    const status = connection.status ?? 'active';
    const keepsTokens = status !== 'revoked';
    const values = [
      userId,
      provider,
      keepsTokens ? this.cipher.encrypt(connection.accessToken, tokenContext(userId, provider, 'access_token')) : null,
      keepsTokens && connection.refreshToken
        ? this.cipher.encrypt(connection.refreshToken, tokenContext(userId, provider, 'refresh_token'))
        : null,
      keepsTokens ? (connection.expiresAt ?? null) : null,
      connection.providerUserId ?? null,
      connection.providerUsername ?? null,
      connection.scope ?? null,
      status,
      connection.lastSyncedAt ?? null,
    ];
    let row: (ConnectionRow & { previous: ConnectionStatus | null }) | undefined;
    try {
      for (let attempt = 1; !row; attempt++) {
        [row] = await this.sql.rows<ConnectionRow & { previous: ConnectionStatus | null }>(UPSERT, values);
        if (!row && attempt === UPSERT_ATTEMPTS) throw new Error('The connection kept changing under the write; retry');
      }
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new UserNotFoundError();
      throw error;
    }
    if (row.previous !== row.status) {
      const reason = row.status !== 'active' ? 'imported' : row.previous === null ? 'linked' : 'relinked';
      const event = row.status === 'active' ? CONNECTION_EVENTS.created : CONNECTION_EVENTS[row.status];
      this.emit(event, row, reason);
    }
    return { connection: toConnectionResponse(row), created: row.previous === null };
  }

  /**
   * Stamps a successful sync (now, unless `at` is given); last_synced_at never moves backwards.
   * Emits connection.synced. Throws ConnectionNotFoundError.
   */
  async recordSync(connectionId: string, at: Date = new Date()): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const [row] = await this.sql.rows<ConnectionRow>(
      `UPDATE connections c SET last_synced_at = greatest(c.last_synced_at, $2::timestamptz), updated_at = now()
        WHERE c.id = $1 RETURNING ${COLUMNS}`,
      [connectionId, at],
    );
    if (!row) throw new ConnectionNotFoundError();
    this.emit(CONNECTION_EVENTS.synced, row, 'synced');
    return toConnectionResponse(row);
  }

  /**
   * Revokes the connection and erases its tokens. Emits connection.revoked with the reason, unless
   * it was revoked already (then nothing changes). Throws ConnectionNotFoundError.
   */
  async markRevoked(connectionId: string, reason: StatusReason): Promise<ConnectionResponse> {
    return this.transition(REVOKE, CONNECTION_EVENTS.revoked, connectionId, reason);
  }

  /**
   * Marks an active connection expired, keeping its tokens for a refresh. Emits connection.expired
   * with the reason. A revoked or already expired connection is left as it is.
   * Throws ConnectionNotFoundError.
   */
  async markExpired(connectionId: string, reason: StatusReason): Promise<ConnectionResponse> {
    return this.transition(EXPIRE, CONNECTION_EVENTS.expired, connectionId, reason);
  }

  /**
   * Disconnects, as the HTTP DELETE does: `revoked` (reason user_disconnected), tokens erased;
   * repeating it changes nothing. Throws UserNotFoundError or ConnectionNotFoundError.
   */
  async disconnect(userId: string, provider: Provider): Promise<ConnectionResponse> {
    userId = uuidOr(userId, UserNotFoundError);
    const [found] = await this.sql.rows<{ id: string }>(
      `SELECT id FROM connections WHERE user_id = $1 AND provider = $2`,
      [userId, provider],
    );
    if (!found) {
      const [user] = await this.sql.rows(`SELECT 1 FROM users WHERE id = $1`, [userId]);
      throw user ? new ConnectionNotFoundError() : new UserNotFoundError();
    }
    return this.markRevoked(found.id, 'user_disconnected');
  }

  /** The connections of a provider's account (usually one), for webhooks that know only the provider's user id. */
  async findByProviderUser(provider: Provider, providerUserId: string): Promise<ConnectionResponse[]> {
    const rows = await this.sql.rows<ConnectionRow>(
      `SELECT ${COLUMNS} FROM connections c WHERE c.provider = $1 AND c.provider_user_id = $2 ORDER BY c.created_at, c.id`,
      [provider, providerUserId],
    );
    return rows.map(toConnectionResponse);
  }

  /**
   * The access token of an active connection, decrypted: the only way to read one. Throws
   * ConnectionNotActiveError for a revoked or expired connection, ConnectionNotFoundError for none.
   */
  async getAccessToken(connectionId: string): Promise<string> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const [row] = await this.sql.rows<{ user_id: string; provider: Provider; status: ConnectionStatus; access_token: string | null }>(
      `SELECT c.user_id, c.provider, ${EFFECTIVE_STATUS} AS status, c.access_token FROM connections c WHERE c.id = $1`,
      [connectionId],
    );
    if (!row) throw new ConnectionNotFoundError();
    if (row.status !== 'active' || row.access_token === null) throw new ConnectionNotActiveError(row.status);
    return this.cipher.decrypt(row.access_token, tokenContext(row.user_id, row.provider, 'access_token'));
  }

  /**
   * Refreshes the connection's tokens with `refresher` (which calls the provider), holding the row
   * locked so that callers racing for the same connection, in this process or another, refresh it
   * once: the others get the new token without calling their refresher. A rejected grant revokes
   * the connection (reason refresh_failed). Throws ConnectionNotFoundError, or
   * ConnectionNotActiveError for a revoked connection.
   */
  refreshTokens(connectionId: string, refresher: Refresher): Promise<RefreshOutcome> {
    try {
      connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    } catch (error) {
      return Promise.reject(error);
    }
    const running = this.refreshing.get(connectionId);
    if (running) {
      return running.then((result) => (result.outcome === 'refreshed' ? { ...result, outcome: 'already_refreshed' } : result));
    }
    const run = this.refreshUnderLock(connectionId, refresher).finally(() => this.refreshing.delete(connectionId));
    this.refreshing.set(connectionId, run);
    return run;
  }

  /** Stores `expired` on every active connection whose token lapsed with no refresh token; emits connection.expired for each. */
  async expireLapsed(): Promise<number> {
    const rows = await this.sql.rows<ConnectionRow>(SWEEP);
    for (const row of rows) this.emit(CONNECTION_EVENTS.expired, row, 'token_lapsed');
    return rows.length;
  }

  private async refreshUnderLock(connectionId: string, refresher: Refresher): Promise<RefreshOutcome> {
    // The version before waiting for the lock: if it differs once the lock is held, a racing call refreshed.
    const [seen] = await this.sql.rows<{ token_version: number }>(`SELECT token_version FROM connections WHERE id = $1`, [
      connectionId,
    ]);
    if (!seen) throw new ConnectionNotFoundError();
    let revoked: ConnectionRow | undefined;
    let reactivated: ConnectionRow | undefined;
    const outcome = await this.sql.transaction<RefreshOutcome>(async (client) => {
      const {
        rows: [row],
      } = await client.query(
        `SELECT c.id, c.user_id, c.provider, c.status, ${EFFECTIVE_STATUS} AS effective_status,
                c.access_token, c.refresh_token, c.token_expires_at, c.token_version
           FROM connections c WHERE c.id = $1 FOR UPDATE`,
        [connectionId],
      );
      if (!row) throw new ConnectionNotFoundError();
      if (row.status === 'revoked') throw new ConnectionNotActiveError('revoked');
      const context = (field: 'access_token' | 'refresh_token') => tokenContext(row.user_id, row.provider, field);
      const open = (value: string | null, field: 'access_token' | 'refresh_token') =>
        value === null ? null : this.cipher.decrypt(value, context(field));
      const current = {
        accessToken: open(row.access_token, 'access_token'),
        refreshToken: open(row.refresh_token, 'refresh_token'),
        expiresAt: row.token_expires_at,
      };
      if (row.token_version !== seen.token_version && current.accessToken !== null) {
        return { outcome: 'already_refreshed', accessToken: current.accessToken };
      }

      const result = await refresher(current);
      if ('rejected' in result) {
        [revoked] = (await client.query(REVOKE, [connectionId, 'refresh_failed'])).rows;
        return { outcome: 'revoked' };
      }
      const refreshToken = result.refreshToken === undefined ? current.refreshToken : result.refreshToken;
      await client.query(
        `UPDATE connections SET access_token = $2, refresh_token = $3, token_expires_at = $4, status = 'active',
                status_reason = NULL, token_version = token_version + 1, updated_at = now()
          WHERE id = $1`,
        [
          connectionId,
          this.cipher.encrypt(result.accessToken, context('access_token')),
          refreshToken ? this.cipher.encrypt(refreshToken, context('refresh_token')) : null,
          result.expiresAt ?? null,
        ],
      );
      if (row.effective_status !== 'active') reactivated = row;
      return { outcome: 'refreshed', accessToken: result.accessToken };
    });
    if (revoked) this.emit(CONNECTION_EVENTS.revoked, revoked, 'refresh_failed');
    // An expired connection that a refresh brought back is announced as a re-link.
    if (reactivated) this.emit(CONNECTION_EVENTS.created, reactivated, 'refreshed');
    return outcome;
  }

  private async transition(
    statement: string,
    event: string,
    connectionId: string,
    reason: StatusReason,
  ): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const [changed] = await this.sql.rows<ConnectionRow & { previous?: ConnectionStatus }>(statement, [connectionId, reason]);
    if (changed) {
      if (changed.previous !== changed.status) this.emit(event, changed, reason);
      return toConnectionResponse(changed);
    }
    const [unchanged] = await this.sql.rows<ConnectionRow>(`SELECT ${COLUMNS} FROM connections c WHERE c.id = $1`, [connectionId]);
    if (!unchanged) throw new ConnectionNotFoundError();
    return toConnectionResponse(unchanged);
  }

  private emit(event: string, row: Pick<ConnectionRow, 'id' | 'user_id' | 'provider'>, reason: ConnectionEvent['reason']): void {
    emitConnectionEvent(this.events, event, { connection_id: row.id, user_id: row.user_id, provider: row.provider, reason });
  }
}

/**
 * A UUID argument in the one form the database returns and tokens are sealed to (lower case), so that
 * every method answers the same for either case. Anything that is not a UUID names no row: it gets
 * the method's not-found error rather than a database error.
 */
function uuidOr(value: string, notFound: new () => Error): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw new notFound();
  return value.toLowerCase();
}
