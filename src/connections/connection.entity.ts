import { Exclude } from 'class-transformer';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { User } from '../users/user.entity.js';
import type { ConnectionStatus, Provider } from './providers.js';

@Entity('connections')
@Check('ck_connections_status', `status IN ('active', 'revoked', 'expired')`)
// A revoked connection holds no tokens, however it got there.
@Check('ck_connections_revoked_no_tokens', `status <> 'revoked' OR (access_token IS NULL AND refresh_token IS NULL)`)
@Unique('uq_connections_user_provider', ['userId', 'provider'])
// For a provider account's lookups; partial, so that no plan reads it for one user's connection (see
// migration ProviderAccountIndexPartial).
@Index('ix_connections_provider_user', ['provider', 'providerUserId'], { where: 'provider_user_id IS NOT NULL' })
// For the sweep that stores `expired` on connections whose token lapsed with no way to refresh it.
@Index('ix_connections_lapsing', ['tokenExpiresAt'], { where: `status = 'active' AND refresh_token IS NULL` })
// For the refresher's scan: the active connections that can be refreshed, by when their token lapses.
@Index('ix_connections_refresh_due', ['tokenExpiresAt'], { where: `status = 'active' AND refresh_token IS NOT NULL` })
export class Connection {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: Relation<User>;

  @Column({ type: 'text' })
  provider: Provider;

  @Column({ name: 'provider_user_id', type: 'text', nullable: true })
  providerUserId: string | null;

  @Column({ name: 'provider_username', type: 'text', nullable: true })
  providerUsername: string | null;

  @Column({ type: 'text', nullable: true })
  scope: string | null;

  @Column({ type: 'text', default: 'active' })
  status: ConnectionStatus;

  /** Why the status last changed to revoked or expired (user_disconnected, refresh_failed, ...). */
  @Column({ name: 'status_reason', type: 'text', nullable: true })
  statusReason: string | null;

  // The provider's OAuth tokens. @Exclude() is the safety net that keeps them out of any JSON
  // an entity is serialised to; responses are built by toConnectionResponse() and never carry them.
  @Exclude()
  @Column({ name: 'access_token', type: 'text', nullable: true })
  accessToken: string | null;

  @Exclude()
  @Column({ name: 'refresh_token', type: 'text', nullable: true })
  refreshToken: string | null;

  @Exclude()
  @Column({ name: 'token_expires_at', type: 'timestamptz', nullable: true })
  tokenExpiresAt: Date | null;

  /** Bumped each time the tokens are replaced, so that racing refreshes can tell one happened. */
  @Exclude()
  @Column({ name: 'token_version', type: 'integer', default: 0 })
  tokenVersion: number;

  /**
   * While a refresh is under way: until when the caller that claimed it holds it. Others wait for it
   * (or, once it lapsed because its process died, claim it themselves). Cleared by every token write.
   */
  @Exclude()
  @Column({ name: 'refresh_lease_until', type: 'timestamptz', nullable: true })
  refreshLeaseUntil: Date | null;

  /** After a background refresh failed and will be retried: not before this. */
  @Exclude()
  @Column({ name: 'refresh_retry_at', type: 'timestamptz', nullable: true })
  refreshRetryAt: Date | null;

  /** Background refreshes failed in a row (the retry delay grows with it); 0 after a success. */
  @Exclude()
  @Column({ name: 'refresh_failures', type: 'integer', default: 0 })
  refreshFailures: number;

  @Column({ name: 'last_synced_at', type: 'timestamptz', nullable: true })
  lastSyncedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
