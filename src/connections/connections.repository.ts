import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import type { EntityManager, Repository } from 'typeorm';
import { Sql, type SqlExecutor, sqlState } from '../database/sql.js';
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

/** A connection whose refresh a caller has claimed (its lease is held), sealed tokens included. */
export interface ClaimedConnectionRow {
  id: string;
  user_id: string;
  provider: Provider;
  provider_user_id: string | null;
  /** As stored. */
  status: ConnectionStatus;
  /** As a reader sees it. */
  effective_status: ConnectionStatus;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: Date | null;
  /** The version the claim saw: every write of the outcome checks it. */
  token_version: number;
  /** Background refreshes failed in a row before this one. */
  refresh_failures: number;
}

/** Where a connection's refresh stands, for a caller that could not claim it. */
export interface RefreshStateRow {
  user_id: string;
  provider: Provider;
  status: ConnectionStatus;
  effective_status: ConnectionStatus;
  /** Another caller holds the refresh and its lease has not lapsed. */
  leased: boolean;
  token_version: number;
  access_token: string | null;
}

/** A connection revoked, with the sealed access token it held until then (null if none), for a deregistration. */
export type RevokedConnectionRow = ChangedConnectionRow & { previous_access_token: string | null; token_version: number };

/** A connection deleted with its user: the status it had (as a reader saw it), and the sealed access token it held. */
export interface DeletedConnectionRow extends ConnectionRow {
  access_token: string | null;
  token_version: number;
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
    refresh_lease_until = NULL, refresh_retry_at = NULL, refresh_failures = 0,
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
  WITH previous AS (SELECT id, status, access_token FROM connections WHERE id = $1 FOR UPDATE)
  UPDATE connections c
     SET status = 'revoked', status_reason = CASE WHEN previous.status = 'revoked' THEN c.status_reason ELSE $2 END,
         access_token = NULL, refresh_token = NULL, token_expires_at = NULL,
         token_version = c.token_version + 1, refresh_lease_until = NULL, refresh_retry_at = NULL, refresh_failures = 0,
         updated_at = now()
    FROM previous
   WHERE c.id = previous.id AND NOT (c.status = 'revoked' AND c.access_token IS NULL AND c.refresh_token IS NULL)
  RETURNING ${COLUMNS}, previous.status AS previous, previous.access_token AS previous_access_token, c.token_version`;

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

const CLAIMED = `c.id, c.user_id, c.provider, c.provider_user_id, c.status, ${EFFECTIVE_STATUS} AS effective_status,
  c.access_token, c.refresh_token, c.token_expires_at, c.token_version, c.refresh_failures`;

// Only one caller wins a connection's lease: the others find it held (or the connection revoked).
const CLAIM_REFRESH = `
  UPDATE connections c SET refresh_lease_until = now() + make_interval(secs => $2)
   WHERE c.id = $1 AND c.status <> 'revoked' AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < now())
  RETURNING ${CLAIMED}`;

// The refresher's scan: by ix_connections_refresh_due, only connections whose token lapses within $1
// seconds, skipping rows another instance is claiming (row locks) or holds (unlapsed leases) and
// those waiting for a retry; the lease is taken in the same statement.
const CLAIM_DUE = `
  UPDATE connections c SET refresh_lease_until = now() + make_interval(secs => $3)
    FROM (SELECT id FROM connections
           WHERE status = 'active' AND refresh_token IS NOT NULL
             AND token_expires_at <= now() + make_interval(secs => $1)
             AND (refresh_retry_at IS NULL OR refresh_retry_at <= now())
             AND (refresh_lease_until IS NULL OR refresh_lease_until < now())
             AND provider <> ALL($4::text[])
           ORDER BY token_expires_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED) due
   WHERE c.id = due.id
  RETURNING ${CLAIMED}`;

const REFRESH_STATE = `
  SELECT c.user_id, c.provider, c.status, ${EFFECTIVE_STATUS} AS effective_status,
         coalesce(c.refresh_lease_until > now(), false) AS leased, c.token_version, c.access_token
    FROM connections c WHERE c.id = $1`;

// Both tokens in one statement, before the new access token is handed to anyone; only if nothing
// wrote the tokens since the claim (the version), and never on a revoked connection.
const STORE_REFRESHED = `
  UPDATE connections c SET access_token = $3, refresh_token = $4, token_expires_at = $5, status = 'active',
         status_reason = NULL, token_version = c.token_version + 1,
         refresh_lease_until = NULL, refresh_retry_at = NULL, refresh_failures = 0, updated_at = now()
   WHERE c.id = $1 AND c.token_version = $2 AND c.status <> 'revoked'
  RETURNING ${COLUMNS}`;

const RELEASE_REFRESH = `
  UPDATE connections SET refresh_lease_until = NULL WHERE id = $1 AND token_version = $2`;

const DEFER_REFRESH = `
  UPDATE connections SET refresh_lease_until = NULL, refresh_retry_at = $3, refresh_failures = refresh_failures + 1
   WHERE id = $1 AND token_version = $2`;

// A refresh token the provider rejected: `expired`, tokens erased (they are of no use any more).
const EXPIRE_REFRESH_FAILED = `
  UPDATE connections c SET status = 'expired', status_reason = 'refresh_failed',
         access_token = NULL, refresh_token = NULL, token_expires_at = NULL, token_version = c.token_version + 1,
         refresh_lease_until = NULL, refresh_retry_at = NULL, refresh_failures = 0, updated_at = now()
   WHERE c.id = $1 AND c.token_version = $2 AND c.status <> 'revoked'
  RETURNING ${COLUMNS}`;

const UPDATE_SCOPE = `
  UPDATE connections c SET scope = $2, updated_at = now() WHERE c.id = $1 AND c.scope IS DISTINCT FROM $2
  RETURNING ${COLUMNS}`;

// A CTE, so that the statement answers rows whatever the driver makes of a bare DELETE … RETURNING.
const DELETE_FOR_USER = `
  WITH gone AS (DELETE FROM connections c WHERE c.user_id = $1 RETURNING ${COLUMNS}, c.access_token, c.token_version)
  SELECT * FROM gone`;

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
  async upsert(values: ConnectionValues, client?: PoolClient): Promise<ChangedConnectionRow | null> {
    try {
      return await upsertWith((text, parameters) => this.rows<ChangedConnectionRow>(client, text, parameters, 'connections_upsert'), values);
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return null;
      throw error;
    }
  }

  /**
   * upsert(), unless the provider account (values.providerUserId) is held by another user's connection
   * that is not revoked: then nothing is written and the answer is 'in_use'. The check and the write
   * are in the caller's transaction (`client`), which holds the account's advisory lock
   * (pg_advisory_xact_lock) until it ends, so that of calls racing for one account, in this process or
   * another, exactly one links it. Null when the user does not exist.
   */
  async upsertExclusive(values: ConnectionValues & { providerUserId: string }, client: PoolClient): Promise<ChangedConnectionRow | 'in_use' | null> {
    try {
      await client.query(LOCK_PROVIDER_ACCOUNT, [values.provider, values.providerUserId]);
      const { rows: held } = await client.query(OTHER_HOLDER, [values.provider, values.providerUserId, values.userId]);
      if (held.length > 0) return 'in_use' as const;
      return await upsertWith((text, parameters) => this.rows<ChangedConnectionRow>(client, text, parameters, 'connections_upsert'), values);
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return null;
      throw error;
    }
  }

  /** Stamps a sync at `at`, unless a later one is stored. Undefined: no such connection. */
  async recordSync(id: string, at: Date, client?: PoolClient): Promise<ConnectionRow | undefined> {
    const [row] = await this.rows<ConnectionRow>(client, RECORD_SYNC, [id, at], 'connections_record_sync');
    return row;
  }

  /**
   * Revokes the connection (with `reason`, unless it was revoked already) and erases its tokens.
   * Undefined when nothing changed (already revoked, tokens erased) or there is no such connection.
   */
  async revoke(id: string, reason: string, client?: PoolClient): Promise<RevokedConnectionRow | undefined> {
    const [row] = await this.rows<RevokedConnectionRow>(client, REVOKE, [id, reason], 'connections_revoke');
    return row;
  }

  /** A statement on `client` (the caller's transaction), or on a pooled connection of its own; `name` prepares it (see Sql). */
  private rows<T>(client: PoolClient | undefined, text: string, values: unknown[], name?: string): Promise<T[]> {
    return client ? this.sql.on<T>(client, text, values, name) : this.sql.rows<T>(text, values, name);
  }

  /** Statements in the caller's transaction on `client`, for the outbox and the jobs. */
  executor(client: PoolClient): SqlExecutor {
    return this.sql.executor(client);
  }

  /** Runs `work` in one transaction on one connection, `last`'s statements sent with its COMMIT (Sql.transaction). */
  transaction<T>(work: (client: PoolClient) => Promise<T>, last?: (client: PoolClient) => Promise<unknown>[]): Promise<T> {
    return this.sql.transaction(work, last);
  }

  /**
   * Stores `expired` (with `reason`) on an active connection, keeping its tokens. Undefined when it
   * was not active (revoked or expired already) or there is no such connection.
   */
  async expire(id: string, reason: string, client?: PoolClient): Promise<ChangedConnectionRow | undefined> {
    const [row] = await this.rows<ChangedConnectionRow>(client, EXPIRE, [id, reason], 'connections_expire');
    return row;
  }

  /** Stores `expired` (reason token_lapsed) on every active connection whose token lapsed with no refresh token; the rows changed. */
  sweepLapsed(client?: PoolClient): Promise<ConnectionRow[]> {
    return this.rows<ConnectionRow>(client, SWEEP, []);
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

  /**
   * Claims the connection's refresh: its lease, held for `leaseSeconds`, unless another caller holds an
   * unlapsed one or the connection is revoked (then undefined). The row with its sealed tokens.
   */
  async claimRefresh(id: string, leaseSeconds: number): Promise<ClaimedConnectionRow | undefined> {
    const [row] = await this.sql.rows<ClaimedConnectionRow>(CLAIM_REFRESH, [id, leaseSeconds]);
    return row;
  }

  /**
   * Claims at most `limit` active connections whose access token lapses within `aheadSeconds` and that
   * hold a refresh token, not waiting for a retry, not held by another caller, and not of the
   * `excluded` providers; the soonest to lapse first.
   */
  claimDue(aheadSeconds: number, limit: number, leaseSeconds: number, excluded: readonly Provider[]): Promise<ClaimedConnectionRow[]> {
    return this.sql.rows<ClaimedConnectionRow>(CLAIM_DUE, [aheadSeconds, limit, leaseSeconds, excluded]);
  }

  async refreshState(id: string): Promise<RefreshStateRow | undefined> {
    const [row] = await this.sql.rows<RefreshStateRow>(REFRESH_STATE, [id]);
    return row;
  }

  /** Stores refreshed (sealed) tokens, if the version is still `version`; the row, or undefined when something else wrote first. */
  async storeRefreshed(
    id: string,
    version: number,
    accessToken: string,
    refreshToken: string | null,
    expiresAt: Date | null,
    client?: PoolClient,
  ): Promise<ConnectionRow | undefined> {
    const [row] = await this.rows<ConnectionRow>(client, STORE_REFRESHED, [id, version, accessToken, refreshToken, expiresAt]);
    return row;
  }

  /** Gives up the lease, changing nothing else (if the version is still `version`). */
  async releaseRefresh(id: string, version: number): Promise<void> {
    await this.sql.rows(RELEASE_REFRESH, [id, version]);
  }

  /** Gives up the lease after a failed background refresh, not to be tried again before `retryAt`. */
  async deferRefresh(id: string, version: number, retryAt: Date): Promise<void> {
    await this.sql.rows(DEFER_REFRESH, [id, version, retryAt]);
  }

  /** Stores `expired` (refresh_failed) with the tokens erased, if the version is still `version`. */
  async expireRefreshFailed(id: string, version: number, client?: PoolClient): Promise<ConnectionRow | undefined> {
    const [row] = await this.rows<ConnectionRow>(client, EXPIRE_REFRESH_FAILED, [id, version]);
    return row;
  }

  /** Replaces the scope; undefined when it was the same already or there is no such connection. */
  async updateScope(id: string, scope: string | null): Promise<ConnectionRow | undefined> {
    const [row] = await this.sql.rows<ConnectionRow>(UPDATE_SCOPE, [id, scope]);
    return row;
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
