import { Injectable } from '@nestjs/common';
import { Sql, type SqlExecutor } from '../database/sql.js';
import type { JobStatus } from './job.entity.js';

export interface NewJob {
  kind: string;
  payload: Record<string, unknown>;
  /** Sealed by the caller (TokenCipher); erased when the job ends. */
  secret?: string | null;
  /** Not before this (default: at once). */
  runAt?: Date;
  /** After this, a failure that could be retried ends the job as failed. */
  deadline?: Date | null;
}

/** A job a worker holds: its lease is `attempts` (writes check it, so a worker whose lease lapsed changes nothing). */
export interface ClaimedJob {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  secret: string | null;
  attempts: number;
  deadline: Date | null;
  created_at: Date;
}

export interface JobRow {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  status: JobStatus;
  run_at: Date;
  attempts: number;
  deadline: Date | null;
  locked_until: Date | null;
  outcome: string | null;
  last_error: string | null;
  has_secret: boolean;
  created_at: Date;
  ended_at: Date | null;
}

const INSERT = `
  INSERT INTO jobs (kind, payload, secret, run_at, deadline)
  VALUES ($1, $2::jsonb, $3, coalesce($4::timestamptz, now()), $5)
  RETURNING id`;

// The scan reads the due pending jobs by ix_jobs_due, skips those another worker has locked (the row
// lock of this statement) or holds (an unlapsed lease), and leases what it takes in the same statement.
const CLAIM = `
  UPDATE jobs j SET locked_until = now() + make_interval(secs => $3), attempts = j.attempts + 1
    FROM (SELECT id FROM jobs
           WHERE status = 'pending' AND run_at <= now() AND kind = ANY($1::text[])
             AND (locked_until IS NULL OR locked_until < now())
           ORDER BY run_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED) due
   WHERE j.id = due.id
  RETURNING j.id, j.kind, j.payload, j.secret, j.attempts, j.deadline, j.created_at`;

const END = `
  UPDATE jobs SET status = $3, outcome = $4, last_error = $5, secret = NULL, locked_until = NULL, ended_at = now()
   WHERE id = $1 AND attempts = $2 AND status = 'pending'`;

// greatest(): a job held back while it ran (postpone) is not brought forward by its retry.
const RETRY = `
  UPDATE jobs SET run_at = greatest($3, run_at), outcome = $4, last_error = $5, locked_until = NULL
   WHERE id = $1 AND attempts = $2 AND status = 'pending'`;

// A job a worker holds while this runs is updated once its claim commits, and reported as held.
const POSTPONE = `
  UPDATE jobs SET run_at = greatest(run_at, now() + make_interval(secs => $3))
   WHERE kind = $1 AND status = 'pending' AND payload @> $2::jsonb
  RETURNING id, coalesce(locked_until > now(), false) AS held`;

const HELD = `
  SELECT id FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'pending' AND locked_until > now()`;

const PURGE_ENDED = `
  DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs WHERE status <> 'pending' AND ended_at < now() - make_interval(days => $1) LIMIT 1000)`;

const COLUMNS = `id, kind, payload, status, run_at, attempts, deadline, locked_until, outcome, last_error,
  secret IS NOT NULL AS has_secret, created_at, ended_at`;

/** Every statement on `jobs`: the only place, with the entity and the migrations, that knows its table. */
@Injectable()
export class JobsRepository {
  constructor(private readonly sql: Sql) {}

  /** Inserts a job through `exec` (the caller's transaction) or, without one, on its own. Its id. */
  async insert(job: NewJob, exec?: SqlExecutor): Promise<string> {
    const values = [job.kind, JSON.stringify(job.payload), job.secret ?? null, job.runAt ?? null, job.deadline ?? null];
    const rows = exec ? await exec(INSERT, values, 'jobs_insert') : await this.sql.rows(INSERT, values, 'jobs_insert');
    return (rows[0] as { id: string }).id;
  }

  /** Leases at most `limit` due jobs of these kinds for `leaseSeconds`, the oldest due first. */
  claim(kinds: string[], limit: number, leaseSeconds: number): Promise<ClaimedJob[]> {
    return this.sql.rows<ClaimedJob>(CLAIM, [kinds, limit, leaseSeconds]);
  }

  /** Ends a held job (done or failed), erasing its secret; false when the lease was lost. */
  async end(job: ClaimedJob, status: 'done' | 'failed', outcome: string, error: string | null): Promise<boolean> {
    return (await this.sql.rows(END + ' RETURNING id', [job.id, job.attempts, status, outcome, error])).length === 1;
  }

  /** Gives a held job back, to run again at `runAt`; false when the lease was lost. */
  async retry(job: ClaimedJob, runAt: Date, outcome: string, error: string | null): Promise<boolean> {
    return (await this.sql.rows(RETRY + ' RETURNING id', [job.id, job.attempts, runAt, outcome, error])).length === 1;
  }

  /**
   * Puts off the pending jobs of a kind whose payload contains `match` until `seconds` from now (one
   * due later keeps its time); the ids of those a worker holds now, whose run this cannot stop.
   */
  async postpone(kind: string, match: Record<string, string>, seconds: number): Promise<string[]> {
    const rows = await this.sql.rows<{ id: string; held: boolean }>(POSTPONE, [kind, JSON.stringify(match), seconds]);
    return rows.filter((row) => row.held).map((row) => row.id);
  }

  /** Which of these jobs a worker still holds (pending, its lease not lapsed). */
  async held(ids: string[]): Promise<string[]> {
    return (await this.sql.rows<{ id: string }>(HELD, [ids])).map((row) => row.id);
  }

  /** Deletes up to 1,000 jobs that ended more than `days` days ago; how many. */
  async purgeEnded(days: number): Promise<number> {
    return (await this.sql.rows(PURGE_ENDED + ' RETURNING id', [days])).length;
  }

  async find(id: string): Promise<JobRow | undefined> {
    const [row] = await this.sql.rows<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]);
    return row;
  }

  /** The jobs of a kind, oldest first (at most 1,000): for operators and tests. */
  list(kind: string): Promise<JobRow[]> {
    return this.sql.rows<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE kind = $1 ORDER BY created_at, id LIMIT 1000`, [kind]);
  }
}
