import { Injectable } from '@nestjs/common';
import { Sql, type SqlExecutor, sqlState } from '../database/sql.js';
import type { Provider } from '../connections/providers.js';
import type { StoredSessionStatus } from './connect-session.entity.js';

/** A session's status as a reader sees it: a pending one past its expiry reads as expired. */
export type SessionStatus = StoredSessionStatus | 'expired';

/** A connect session as the API shows it. */
export interface SessionRow {
  id: string;
  user_id: string;
  status: SessionStatus;
  providers: Provider[];
  provider: Provider | null;
  connection_id: string | null;
  error: string | null;
  expires_at: Date;
  created_at: Date;
}

/** What a connect link's page needs to know of its session. */
export interface SessionByTokenRow {
  id: string;
  providers: Provider[];
  /** A callback claimed it, or it has an outcome. */
  used: boolean;
  expired: boolean;
  /** Where the user goes back to (the page's "back to the app"). */
  return_url: string;
}

/** A provider connection of the session's user, as the connect page shows it (from the connection_states view). */
export interface ProviderStateRow {
  provider: Provider;
  status: 'active' | 'revoked' | 'expired';
  /** UTC, as text (see isoTimeFromUtcText); null when never synced. */
  last_synced_at: string | null;
}

/** The page's session, with the states of its user's connections to its providers. */
export interface SessionPageRow extends SessionByTokenRow {
  states: ProviderStateRow[];
}

/** What a new session stores: its token's hash, never the token. */
export interface NewSession {
  userId: string;
  tokenHash: string;
  returnUrl: string;
  providers: Provider[];
  ttlSeconds: number;
}

/** What a new attempt stores: hashes of its state and flow cookie, its verifier sealed. */
export interface NewAttempt {
  tokenHash: string;
  provider: Provider;
  stateHash: string;
  cookieHash: string;
  sealedVerifier: string | null;
  ttlSeconds: number;
  /** The most attempts one session may have. */
  maxAttempts: number;
}

/** An attempt whose callback has just consumed it, with its session, which the callback has claimed. */
export interface ConsumedAttemptRow {
  attempt_id: string;
  provider: Provider;
  cookie_hash: string;
  /** Sealed; erased from the row by the consumption. */
  code_verifier: string | null;
  session_id: string;
  user_id: string;
  return_url: string;
}

/** Why a state could not be consumed, read after the fact. */
export interface RefusedAttemptRow {
  provider: Provider;
  session_id: string;
  return_url: string;
  attempt_used: boolean;
  attempt_expired: boolean;
  session_used: boolean;
  session_expired: boolean;
}

export interface Outcome {
  status: 'completed' | 'failed';
  provider: Provider;
  connectionId: string | null;
  error: string | null;
}

const FOREIGN_KEY_VIOLATION = '23503';

const SESSION_STATUS = `CASE WHEN s.status = 'pending' AND s.expires_at <= now() THEN 'expired' ELSE s.status END`;
const SESSION_COLUMNS = `s.id, s.user_id, ${SESSION_STATUS} AS status, s.providers, s.provider, s.connection_id, s.error, s.expires_at, s.created_at`;

const INSERT_SESSION = `
  INSERT INTO connect_sessions AS s (user_id, token_hash, return_url, providers, expires_at)
  VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
  RETURNING ${SESSION_COLUMNS}`;

const FIND_SESSION = `SELECT ${SESSION_COLUMNS} FROM connect_sessions s WHERE s.id = $1`;

const FIND_SESSION_BY_TOKEN = `
  SELECT s.id, s.providers, (s.used_at IS NOT NULL OR s.status <> 'pending') AS used, s.expires_at <= now() AS expired, s.return_url
    FROM connect_sessions s WHERE s.token_hash = $1`;

// The connect page in one round trip: the session and, through the connections module's
// connection_states view, its user's connections to the session's providers.
const FIND_SESSION_PAGE = `
  SELECT s.id, s.providers, (s.used_at IS NOT NULL OR s.status <> 'pending') AS used, s.expires_at <= now() AS expired, s.return_url,
         COALESCE((SELECT json_agg(json_build_object('provider', cs.provider, 'status', cs.status,
                                                     'last_synced_at', (cs.last_synced_at AT TIME ZONE 'UTC')::text))
                     FROM connection_states cs WHERE cs.user_id = s.user_id AND cs.provider = ANY (s.providers)), '[]') AS states
    FROM connect_sessions s WHERE s.token_hash = $1`;

// An attempt is added only to a session that is still open (unclaimed, unexpired), for one of its
// providers, and while the session has fewer than $7 attempts: a link cannot be made to fill the table.
// The session's row is locked first (LOCK_OPEN_SESSION), and the count is made by the next statement,
// whose snapshot is taken once the lock is held: it sees every attempt of the starts that went before.
// (One statement would not do: its count would be read from a snapshot taken before the lock's wait.)
const LOCK_OPEN_SESSION = `
  SELECT s.id FROM connect_sessions s
   WHERE s.token_hash = $1 AND s.status = 'pending' AND s.used_at IS NULL AND s.expires_at > now()
     AND $2 = ANY (s.providers)
     FOR UPDATE`;

const INSERT_ATTEMPT = `
  INSERT INTO connect_attempts (session_id, provider, state_hash, cookie_hash, code_verifier, expires_at)
  SELECT $1::uuid, $2, $3, $4, $5, now() + make_interval(secs => $6)
   WHERE (SELECT count(*) FROM connect_attempts a WHERE a.session_id = $1::uuid) < $7
  RETURNING id`;

// One statement consumes the state and claims its session: the attempt must be unused and unexpired,
// its session unclaimed and unexpired. The attempt's row lock makes a replayed state lose to the first
// use; the session's makes a second callback of the same session (another attempt's state) lose too,
// since it re-reads used_at once the first has committed. The verifier is erased as it is handed out.
const CONSUME = `
  WITH attempt AS (
    SELECT a.id, a.session_id, a.code_verifier FROM connect_attempts a
     WHERE a.state_hash = $1 AND a.used_at IS NULL AND a.expires_at > now()
       FOR UPDATE
  ), session AS (
    UPDATE connect_sessions s SET used_at = now()
      FROM attempt
     WHERE s.id = attempt.session_id AND s.status = 'pending' AND s.used_at IS NULL AND s.expires_at > now()
    RETURNING s.id, s.user_id, s.return_url
  )
  UPDATE connect_attempts a SET used_at = now(), code_verifier = NULL
    FROM attempt, session
   WHERE a.id = attempt.id
  RETURNING a.id AS attempt_id, a.provider, a.cookie_hash, attempt.code_verifier,
            session.id AS session_id, session.user_id, session.return_url`;

const REFUSED = `
  SELECT a.provider, s.id AS session_id, s.return_url,
         a.used_at IS NOT NULL AS attempt_used, a.expires_at <= now() AS attempt_expired,
         (s.used_at IS NOT NULL OR s.status <> 'pending') AS session_used, s.expires_at <= now() AS session_expired
    FROM connect_attempts a JOIN connect_sessions s ON s.id = a.session_id
   WHERE a.state_hash = $1`;

// The session's outcome and its attempt's, together.
const FINISH = `
  WITH session AS (
    UPDATE connect_sessions SET status = $2, provider = $3, connection_id = $4, error = $5, completed_at = now()
     WHERE id = $1
    RETURNING id
  )
  UPDATE connect_attempts SET status = CASE WHEN $2 = 'completed' THEN 'connected' ELSE 'failed' END, error = $5, completed_at = now()
   WHERE id = $6`;

/**
 * Every statement on `connect_sessions` and `connect_attempts`: the only place, with their entities and
 * the migration, that knows those tables. Secrets arrive hashed (tokens, states, cookies) or sealed
 * (verifiers); nothing here ever sees one in the clear.
 */
@Injectable()
export class ConnectRepository {
  constructor(private readonly sql: Sql) {}

  /** Stores a new session; null when the user does not exist. */
  async insertSession(session: NewSession): Promise<SessionRow | null> {
    try {
      const [row] = await this.sql.rows<SessionRow>(INSERT_SESSION, [
        session.userId,
        session.tokenHash,
        session.returnUrl,
        session.providers,
        session.ttlSeconds,
      ]);
      return row;
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return null;
      throw error;
    }
  }

  async findSession(id: string): Promise<SessionRow | undefined> {
    const [row] = await this.sql.rows<SessionRow>(FIND_SESSION, [id]);
    return row;
  }

  async findSessionByToken(tokenHash: string): Promise<SessionByTokenRow | undefined> {
    const [row] = await this.sql.rows<SessionByTokenRow>(FIND_SESSION_BY_TOKEN, [tokenHash]);
    return row;
  }

  /** The session of a link and its user's connection states, for the connect page: one statement. */
  async findSessionPage(tokenHash: string): Promise<SessionPageRow | undefined> {
    const [row] = await this.sql.rows<SessionPageRow>(FIND_SESSION_PAGE, [tokenHash]);
    return row;
  }

  /**
   * Adds an attempt to the session of the token; false when the session is not open to it or has its
   * maxAttempts already (see INSERT_ATTEMPT). One transaction, holding the session's row lock.
   */
  insertAttempt(attempt: NewAttempt): Promise<boolean> {
    return this.sql.transaction(async (client) => {
      const {
        rows: [session],
      } = await client.query<{ id: string }>(LOCK_OPEN_SESSION, [attempt.tokenHash, attempt.provider]);
      if (!session) return false;
      const { rows } = await client.query(INSERT_ATTEMPT, [
        session.id,
        attempt.provider,
        attempt.stateHash,
        attempt.cookieHash,
        attempt.sealedVerifier,
        attempt.ttlSeconds,
        attempt.maxAttempts,
      ]);
      return rows.length > 0;
    });
  }

  /** Consumes the state and claims its session, atomically (see CONSUME); undefined when it cannot be. */
  async consume(stateHash: string): Promise<ConsumedAttemptRow | undefined> {
    const [row] = await this.sql.rows<ConsumedAttemptRow>(CONSUME, [stateHash]);
    return row;
  }

  /** The state's attempt and session, to tell why consume() refused it; undefined for a state never issued. */
  async refused(stateHash: string): Promise<RefusedAttemptRow | undefined> {
    const [row] = await this.sql.rows<RefusedAttemptRow>(REFUSED, [stateHash]);
    return row;
  }

  /** Stores the outcome of a claimed session and of the attempt that claimed it. */
  /** Stores the outcome, and in its transaction what `alongside` writes (the consumer's webhook event); what that answers. */
  finish<T>(sessionId: string, attemptId: string, outcome: Outcome, alongside: (exec: SqlExecutor) => Promise<T>): Promise<T> {
    return this.sql.transaction(async (client) => {
      await client.query(FINISH, [sessionId, outcome.status, outcome.provider, outcome.connectionId, outcome.error, attemptId]);
      return alongside(this.sql.executor(client));
    });
  }
}
