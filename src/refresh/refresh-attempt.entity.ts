import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Connection } from '../connections/connection.entity.js';

export type RefreshAttemptOutcome =
  /** New tokens stored. */
  | 'refreshed'
  /** Another caller or instance refreshed first; nothing was asked of the provider again. */
  | 'already_refreshed'
  /** No answer, a timeout, a 5xx or a 429: retried later, the status unchanged. */
  | 'transient'
  /** The provider rejected the refresh token twice (invalid_grant): the connection is expired (refresh_failed). */
  | 'rejected'
  /** Any other refusal or a malformed answer: retried later, like a transient one. */
  | 'failed'
  /** The provider is not configured here (no client id and secret): retried later. */
  | 'not_configured';

/**
 * One background refresh of a connection and how it went (never a token): what an operator reads to
 * answer "why is this connection expired?". The last 20 of each connection are kept.
 */
@Entity('refresh_attempts')
@Index('ix_refresh_attempts_connection', ['connectionId', 'attemptedAt'])
export class RefreshAttempt {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_refresh_attempts' })
  id: string;

  @Column({ name: 'connection_id', type: 'uuid' })
  connectionId: string;

  @ManyToOne(() => Connection, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'connection_id', foreignKeyConstraintName: 'fk_refresh_attempts_connection' })
  connection?: Relation<Connection>;

  @Column({ name: 'attempted_at', type: 'timestamptz', default: () => 'now()' })
  attemptedAt: Date;

  @Column({ type: 'text' })
  outcome: RefreshAttemptOutcome;

  /** The failure's class: a ProviderError code (provider_unavailable, refresh_rejected, …), or the error's name. */
  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** The failure's message (no token, code or secret), at most 500 characters. */
  @Column({ type: 'text', nullable: true })
  detail: string | null;

  /** When the next attempt is due, after a failure that is retried. */
  @Column({ name: 'retry_at', type: 'timestamptz', nullable: true })
  retryAt: Date | null;
}
