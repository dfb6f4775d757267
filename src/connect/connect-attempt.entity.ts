import { Exclude } from 'class-transformer';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation, Unique } from 'typeorm';
import type { Provider } from '../connections/providers.js';
import { ConnectSession } from './connect-session.entity.js';

/**
 * One provider flow started from a connect session, and its outcome: its state and flow cookie (as
 * hashes), its PKCE verifier (sealed, erased once used). The schema (the statements are ConnectRepository's).
 */
@Entity('connect_attempts')
@Check('ck_connect_attempts_status', `status IN ('pending', 'connected', 'failed')`)
@Unique('uq_connect_attempts_state_hash', ['stateHash'])
@Index('ix_connect_attempts_session', ['sessionId'])
export class ConnectAttempt {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_connect_attempts' })
  id: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId: string;

  @ManyToOne(() => ConnectSession, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'session_id', foreignKeyConstraintName: 'fk_connect_attempts_session' })
  session?: Relation<ConnectSession>;

  @Column({ type: 'text' })
  provider: Provider;

  /** SHA-256 of the OAuth state, hex. */
  @Exclude()
  @Column({ name: 'state_hash', type: 'text' })
  stateHash: string;

  /** SHA-256 of the flow cookie's value, hex. */
  @Exclude()
  @Column({ name: 'cookie_hash', type: 'text' })
  cookieHash: string;

  /** The PKCE verifier, sealed with the token key; null for a provider without PKCE, and once used. */
  @Exclude()
  @Column({ name: 'code_verifier', type: 'text', nullable: true })
  codeVerifier: string | null;

  @Column({ type: 'text', default: 'pending' })
  status: 'pending' | 'connected' | 'failed';

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** When its callback consumed the state. */
  @Column({ name: 'used_at', type: 'timestamptz', nullable: true })
  usedAt: Date | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
