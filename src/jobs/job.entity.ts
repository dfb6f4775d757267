import { Exclude } from 'class-transformer';
import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type JobStatus = 'pending' | 'done' | 'failed';

/**
 * A durable work item (a deregistration at a provider, a provider's notice to process, …): written in
 * the transaction of the change that causes it, claimed by one worker at a time (`FOR UPDATE SKIP
 * LOCKED` and a lease), retried with delays, and kept a week once it ended, its secret erased. The
 * schema (the statements are JobsRepository's).
 */
@Entity('jobs')
@Check('ck_jobs_status', `status IN ('pending', 'done', 'failed')`)
// A job that ended holds no secret, however it ended.
@Check('ck_jobs_ended_no_secret', `status = 'pending' OR secret IS NULL`)
@Index('ix_jobs_due', ['runAt'], { where: `status = 'pending'` })
@Index('ix_jobs_ended', ['endedAt'], { where: `status <> 'pending'` })
export class Job {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_jobs' })
  id: string;

  /** What to do: the name its handler is registered under (JobsService.handle). */
  @Column({ type: 'text' })
  kind: string;

  /** The handler's input; never a secret. */
  @Column({ type: 'jsonb', default: () => `'{}'` })
  payload: Record<string, unknown>;

  /** A secret the work needs (a provider token), sealed with the token key; erased when the job ends. */
  @Exclude()
  @Column({ type: 'text', nullable: true })
  secret: string | null;

  @Column({ type: 'text', default: 'pending' })
  status: JobStatus;

  /** When it may run next. */
  @Column({ name: 'run_at', type: 'timestamptz', default: () => 'now()' })
  runAt: Date;

  /** How many times a worker has started it. */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** After this, a failure that could be retried ends it as failed. */
  @Column({ type: 'timestamptz', nullable: true })
  deadline: Date | null;

  /** While a worker holds it: until when. A lease that lapsed (its worker died) lets another take it. */
  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil: Date | null;

  /** How it ended, or why its last attempt failed: a short code (deregistered, provider_unavailable, …), never a secret. */
  @Column({ type: 'text', nullable: true })
  outcome: string | null;

  /** The last failure's message (ProviderError messages: no token, code or secret). */
  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt: Date | null;
}
