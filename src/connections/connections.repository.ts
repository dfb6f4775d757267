import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import type { EntityManager, Repository } from 'typeorm';
import { Sql, sqlState } from '../database/sql.js';
import { Connection } from './connection.entity.js';
import type { ConnectionStatus, Provider } from './providers.js';

/** The columns a connection is read with; tokens are not among them. */
export interface ConnectionRow {
  id: string;
  user_id: string;
  provider: Provider;
  provider_user_id: string | null;
  provider_username: string | null;
  scope: string | null;
  /** The status a reader sees: see EFFECTIVE_STATUS. */
  status: ConnectionStatus;
  /** UTC as PostgreSQL writes a timestamp: `(… AT TIME ZONE 'UTC')::text`, e.g. "2024-03-15 10:30:00.123456". */
  last_synced_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A row a statement changed, with the status it had before (null: the statement created it). */
export type ChangedConnectionRow = ConnectionRow & { previous: ConnectionStatus | null };

/** What upsert() writes. The tokens come sealed (encrypted); a revoked connection is given none. */
export interface ConnectionValues {
  userId: string;
  provider: Provider;
  accessToken: string | null;
  refreshToken: string | null;
  tokenExpiresAt: Date | null;
  providerUserId: string | null;
  providerUsername: string | null;
  scope: string | null;
  status: ConnectionStatus;
  /** Null keeps the stored value. */
  lastSyncedAt: Date | null;
}

/** A connection's sealed access token, for getAccessToken(). */
interface AccessTokenRow {
  user_id: string;
  provider: Provider;
  status: ConnectionStatus;
  access_token: string | null;
}

/** A connection as read under its row lock, sealed tokens included. */
interface LockedConnectionRow {
  id: string;
  user_id: string;
  provider: Provider;
  /** As stored. */
  status: ConnectionStatus;
  /** As a reader sees it. */
  effective_status: ConnectionStatus;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: Date | null;
  token_version: number;
}

/** What may be done to a connection while its row is locked (see ConnectionsRepository.underLock). */
interface LockedConnection {
  /** Revokes it and erases its tokens; the row as revoked, or undefined if it already was. */
  revoke(reason: string): Promise<ChangedConnectionRow | undefined>;
  /** Replaces its sealed tokens and makes it active again, bumping token_version. */
  replaceTokens(accessToken: string, refreshToken: string | null, expiresAt: Date | null): Promise<void>;
}

/** A connection deleted with its user: the status it had (as a reader saw it). */
interface DeletedConnectionRow {
  id: string;
  user_id: string;
  provider: Provider;
  status: ConnectionStatus;
}

/** A connection written as it is, times and id included (the demo data). */
type ImportedConnectionRow = Pick<
  Connection,
  'id' | 'userId' | 'provider' | 'providerUserId' | 'providerUsername' | 'scope' | 'status' | 'lastSyncedAt' | 'createdAt' | 'updatedAt'
>;

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * The status a reader sees. An active connection whose access token has lapsed and which has no
 * refresh token cannot be used any more, so it reads as `expired` from that instant on.
 */
const EFFECTIVE_STATUS = `CASE WHEN c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  THEN 'expired' ELSE c.status END`;

// The times are read as UTC text (see isoTimeFromUtcText), which is cheaper than Dates made and
// formatted back. The cast is written here rather than in a pool-wide type parser, which would change
// every `timestamp` column read through the pool, TypeORM's included.
const COLUMNS = `c.id, c.user_id, c.provider, c.provider_user_id, c.provider_username, c.scope,
  ${EFFECTIVE_STATUS} AS status, (c.last_synced_at AT TIME ZONE 'UTC')::text AS last_synced_at,
  (c.created_at AT TIME ZONE 'UTC')::text AS created_at, (c.updated_at AT TIME ZONE 'UTC')::text AS updated_at`;

// One round trip tells an unknown user (no row) from a user without connections (one row of nulls).
// It reads `users` for that alone: one statement on the spec's endpoint.
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

// One provider account's lock, held until its transaction ends: linkExclusive() takes it before it
// reads the account's holders, so that of links racing for one account the later ones see the first.
const LOCK_PROVIDER_ACCOUNT = `SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))`;

// Another user's connection to the provider account that is not revoked: an expired one too, which a
// refresh could make active again.
const OTHER_HOLDER = `
  SELECT 1 FROM connections c
   WHERE c.provider = $1 AND c.provider_user_id = $2 AND c.user_id <> $3 AND c.status <> 'revoked'
   LIMIT 1`;

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
  RETURNING ${COLUMNS}, 'active' AS previous`;

const SWEEP = `
  UPDATE connections c SET status = 'expired', status_reason = 'token_lapsed', updated_at = now()
   WHERE c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  RETURNING ${COLUMNS}`;

const RECORD_SYNC = `
  UPDATE connections c SET last_synced_at = greatest(c.last_synced_at, $2::timestamptz), updated_at = now()
   WHERE c.id = $1
  RETURNING ${COLUMNS}`;

const FIND = `SELECT ${COLUMNS} FROM connections c WHERE c.id = $1`;

const FIND_BY_PROVIDER_USER = `
  SELECT ${COLUMNS} FROM connections c WHERE c.provider = $1 AND c.provider_user_id = $2 ORDER BY c.created_at, c.id`;

const ACCESS_TOKEN = `SELECT c.user_id, c.provider, ${EFFECTIVE_STATUS} AS status, c.access_token FROM connections c WHERE c.id = $1`;

const LOCK = `
  SELECT c.id, c.user_id, c.provider, c.status, ${EFFECTIVE_STATUS} AS effective_status,
         c.access_token, c.refresh_token, c.token_expires_at, c.token_version
    FROM connections c WHERE c.id = $1 FOR UPDATE`;

const REPLACE_TOKENS = `
  UPDATE connections SET access_token = $2, refresh_token = $3, token_expires_at = $4, status = 'active',
         status_reason = NULL, token_version = token_version + 1, updated_at = now()
   WHERE id = $1`;

// A CTE, so that the statement answers rows whatever the driver makes of a bare DELETE … RETURNING.
const DELETE_FOR_USER = `
  WITH gone AS (DELETE FROM connections c WHERE c.user_id = $1 RETURNING c.id, c.user_id, c.provider, ${EFFECTIVE_STATUS} AS status)
  SELECT id, user_id, provider, status FROM gone`;

/**
 * Every statement on `connections`: the only place, with the entity and the migrations, that knows
 * its table and columns. The spec's list and the other statements whose shape matters are written
 * out and run through Sql (the list as a named prepared statement); plain lookups and the demo data
 * go through TypeORM. Arguments are taken as given: UUIDs already checked, tokens already sealed.
 */
@Injectable()
export class ConnectionsRepository {
  constructor(
    private readonly sql: Sql,
    @InjectRepository(Connection) private readonly connections: Repository<Connection>,
  ) {}

  /**
   * The user's connections, optionally filtered, the most recently synced first, never-synced
   * last, ties by provider name: [] for a user without connections, null for an unknown user.
   * One prepared statement.
   */
  async listForUser(userId: string, status: ConnectionStatus | null, provider: Provider | null): Promise<ConnectionRow[] | null> {
    const rows =
      status === null && provider === null
        ? await this.sql.rows<ConnectionRow>(LIST_FOR_USER, [userId], 'connections_list_for_user')
        : await this.sql.rows<ConnectionRow>(LIST_FOR_USER_FILTERED, [userId, status, provider], 'connections_list_for_user_filtered');
    if (rows.length === 0) return null;
    return rows[0].id === null ? [] : rows;
  }

  /**
   * Creates the user's connection to the provider or replaces it (id, created_at and, unless a new
   * value is given, last_synced_at survive), with the status it had before: `previous` is null for
   * exactly one of calls racing to create it. Null when the user does not exist.
   */
  async upsert(values: ConnectionValues): Promise<ChangedConnectionRow | null> {
    try {
      return await upsertWith((text, parameters) => this.sql.rows<ChangedConnectionRow>(text, parameters), values);
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return null;
      throw error;
    }
  }

  /**
   * upsert(), unless the provider account (values.providerUserId) is held by another user's connection
   * that is not revoked: then nothing is written and the answer is 'in_use'. The check and the write
   * are one transaction holding the account's advisory lock (pg_advisory_xact_lock), so that of calls
   * racing for one account, in this process or another, exactly one links it. Null when the user does
   * not exist.
   */
  async upsertExclusive(values: ConnectionValues & { providerUserId: string }): Promise<ChangedConnectionRow | 'in_use' | null> {
    try {
      return await this.sql.transaction(async (client) => {
        await client.query(LOCK_PROVIDER_ACCOUNT, [values.provider, values.providerUserId]);
        const { rows: held } = await client.query(OTHER_HOLDER, [values.provider, values.providerUserId, values.userId]);
        if (held.length > 0) return 'in_use' as const;
        return upsertWith(async (text, parameters) => (await client.query<ChangedConnectionRow>(text, parameters)).rows, values);
      });
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return null;
      throw error;
    }
  }

  /** Stamps a sync at `at`, unless a later one is stored. Undefined: no such connection. */
  async recordSync(id: string, at: Date): Promise<ConnectionRow | undefined> {
    const [row] = await this.sql.rows<ConnectionRow>(RECORD_SYNC, [id, at]);
    return row;
  }

  /**
   * Revokes the connection (with `reason`, unless it was revoked already) and erases its tokens.
   * Undefined when nothing changed (already revoked, tokens erased) or there is no such connection.
   */
  async revoke(id: string, reason: string): Promise<ChangedConnectionRow | undefined> {
    const [row] = await this.sql.rows<ChangedConnectionRow>(REVOKE, [id, reason]);
    return row;
  }

  /**
   * Stores `expired` (with `reason`) on an active connection, keeping its tokens. Undefined when it
   * was not active (revoked or expired already) or there is no such connection.
   */
  async expire(id: string, reason: string): Promise<ChangedConnectionRow | undefined> {
    const [row] = await this.sql.rows<ChangedConnectionRow>(EXPIRE, [id, reason]);
    return row;
  }

  /** Stores `expired` (reason token_lapsed) on every active connection whose token lapsed with no refresh token; the rows changed. */
  sweepLapsed(): Promise<ConnectionRow[]> {
    return this.sql.rows<ConnectionRow>(SWEEP);
  }

  async findById(id: string): Promise<ConnectionRow | undefined> {
    const [row] = await this.sql.rows<ConnectionRow>(FIND, [id]);
    return row;
  }

  /** The id of the user's connection to the provider, if there is one. */
  async findId(userId: string, provider: Provider): Promise<string | undefined> {
    const found = await this.connections.findOne({ select: { id: true }, where: { userId, provider } });
    return found?.id;
  }

  /** The connections of a provider's account, oldest first. */
  findByProviderUser(provider: Provider, providerUserId: string): Promise<ConnectionRow[]> {
    return this.sql.rows<ConnectionRow>(FIND_BY_PROVIDER_USER, [provider, providerUserId]);
  }

  /** The connection's sealed access token and the status a reader sees. */
  async findAccessToken(id: string): Promise<AccessTokenRow | undefined> {
    const [row] = await this.sql.rows<AccessTokenRow>(ACCESS_TOKEN, [id]);
    return row;
  }

  /** The connection's token_version, bumped whenever its tokens are replaced or erased. */
  async tokenVersion(id: string): Promise<number | undefined> {
    const found = await this.connections.findOne({ select: { id: true, tokenVersion: true }, where: { id } });
    return found?.tokenVersion;
  }

  /**
   * Runs `work` in one transaction that holds the connection's row locked (`SELECT … FOR UPDATE`),
   * so that callers doing the same, in this process or another, take turns. `work` gets the row
   * (undefined: no such connection) and what it may change under the lock. Committed if `work`
   * resolves, rolled back if it throws.
   */
  underLock<T>(id: string, work: (row: LockedConnectionRow | undefined, locked: LockedConnection) => Promise<T>): Promise<T> {
    return this.sql.transaction(async (client: PoolClient) => {
      const {
        rows: [row],
      } = await client.query<LockedConnectionRow>(LOCK, [id]);
      return work(row, {
        async revoke(reason) {
          const { rows } = await client.query<ChangedConnectionRow>(REVOKE, [id, reason]);
          return rows[0];
        },
        async replaceTokens(accessToken, refreshToken, expiresAt) {
          await client.query(REPLACE_TOKENS, [id, accessToken, refreshToken, expiresAt]);
        },
      });
    });
  }

  /** Deletes every connection of the user, tokens and all, in the caller's transaction; the rows deleted. */
  deleteForUser(manager: EntityManager, userId: string): Promise<DeletedConnectionRow[]> {
    return manager.query(DELETE_FOR_USER, [userId]) as Promise<DeletedConnectionRow[]>;
  }

  /** Inserts connections as they are given, ids and times included. */
  async insertImported(rows: ImportedConnectionRow[]): Promise<void> {
    await this.connections.insert(rows);
  }
}

/** Runs UPSERT through `run` until it answers a row (see UPSERT): the row, with the status it replaced. */
async function upsertWith(
  run: (text: string, parameters: unknown[]) => Promise<ChangedConnectionRow[]>,
  values: ConnectionValues,
): Promise<ChangedConnectionRow> {
  const parameters = [
    values.userId,
    values.provider,
    values.accessToken,
    values.refreshToken,
    values.tokenExpiresAt,
    values.providerUserId,
    values.providerUsername,
    values.scope,
    values.status,
    values.lastSyncedAt,
  ];
  for (let attempt = 1; ; attempt++) {
    const [row] = await run(UPSERT, parameters);
    if (row) return row;
    if (attempt === UPSERT_ATTEMPTS) throw new Error('The connection kept changing under the write; retry');
  }
}
