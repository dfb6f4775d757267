import { Exclude } from 'class-transformer';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation, Unique } from 'typeorm';
import { Connection } from '../connections/connection.entity.js';
import type { Provider } from '../connections/providers.js';
import { User } from '../users/user.entity.js';

/** What a session's row stores as its status; `expired` is read from a pending one past expires_at. */
export type StoredSessionStatus = 'pending' | 'completed' | 'failed';

/**
 * A connect session: a consumer's link for one user to connect a provider, valid for minutes and
 * finished by one callback. The schema (the statements are ConnectRepository's).
 */
@Entity('connect_sessions')
@Check('ck_connect_sessions_status', `status IN ('pending', 'completed', 'failed')`)
@Unique('uq_connect_sessions_token_hash', ['tokenHash'])
@Index('ix_connect_sessions_user', ['userId'])
export class ConnectSession {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_connect_sessions' })
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_connect_sessions_user' })
  user?: Relation<User>;

  /** SHA-256 of the link's token, hex. The token itself is never stored. */
  @Exclude()
  @Column({ name: 'token_hash', type: 'text' })
  tokenHash: string;

  @Column({ name: 'return_url', type: 'text' })
  returnUrl: string;

  /** The providers the user may choose from. */
  @Column({ type: 'text', array: true })
  providers: Provider[];

  @Column({ type: 'text', default: 'pending' })
  status: StoredSessionStatus;

  /** The provider whose callback finished the session. */
  @Column({ type: 'text', nullable: true })
  provider: Provider | null;

  @Column({ name: 'connection_id', type: 'uuid', nullable: true })
  connectionId: string | null;

  @ManyToOne(() => Connection, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'connection_id', foreignKeyConstraintName: 'fk_connect_sessions_connection' })
  connection?: Relation<Connection>;

  /** The error code of a failed session (access_denied, cookie_mismatch…). */
  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** When a callback claimed the session: no other callback may finish it. */
  @Column({ name: 'used_at', type: 'timestamptz', nullable: true })
  usedAt: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
