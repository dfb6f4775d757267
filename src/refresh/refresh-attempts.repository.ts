import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql.js';
import type { RefreshAttemptOutcome } from './refresh-attempt.entity.js';

export interface RefreshAttemptRow {
  attempted_at: string;
  outcome: RefreshAttemptOutcome;
  error: string | null;
  detail: string | null;
  retry_at: string | null;
}

/** How many attempts are kept per connection (the newest). */
export const KEPT_ATTEMPTS = 20;

const utc = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

// The insert and the trim of the connection's oldest attempts, one statement.
const RECORD = `
  WITH added AS (
    INSERT INTO refresh_attempts (connection_id, outcome, error, detail, retry_at) VALUES ($1, $2, $3, $4, $5) RETURNING id
  )
  DELETE FROM refresh_attempts WHERE id IN (
    SELECT id FROM refresh_attempts WHERE connection_id = $1 ORDER BY attempted_at DESC, id OFFSET ${KEPT_ATTEMPTS - 1})`;

const LIST = `
  SELECT ${utc('attempted_at')} AS attempted_at, outcome, error, detail, ${utc('retry_at')} AS retry_at
    FROM refresh_attempts WHERE connection_id = $1 ORDER BY attempted_at DESC, id LIMIT ${KEPT_ATTEMPTS}`;

/** The statements on `refresh_attempts`: the only place, with the entity and the migrations, that knows the table. */
@Injectable()
export class RefreshAttemptsRepository {
  constructor(private readonly sql: Sql) {}

  async record(connectionId: string, outcome: RefreshAttemptOutcome, error: string | null, detail: string | null, retryAt: Date | null): Promise<void> {
    await this.sql.rows(RECORD, [connectionId, outcome, error, detail?.slice(0, 500) ?? null, retryAt]);
  }

  /** The connection's attempts, newest first. */
  list(connectionId: string): Promise<RefreshAttemptRow[]> {
    return this.sql.rows<RefreshAttemptRow>(LIST, [connectionId]);
  }
}
