import { Exclude } from 'class-transformer';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn, type Relation, Unique, UpdateDateColumn } from 'typeorm';

/**
 * The webhooks' schema (the statements are WebhooksRepository's): the consumer's endpoints, the events
 * (the outbox, written in the transaction of the change that causes them), one delivery per event and
 * endpoint (a durable work item: claimed with SKIP LOCKED and a lease, retried on a schedule), and each
 * delivery's attempts.
 */
@Entity('webhook_endpoints')
export class WebhookEndpoint {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_webhook_endpoints' })
  id: string;

  @Column({ type: 'text' })
  url: string;

  /** The event types sent to it; null: every type. */
  @Column({ type: 'text', array: true, nullable: true })
  events: string[] | null;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Why it was disabled: `failing` (every delivery failed for 5 days) or `user` (PATCH enabled=false). */
  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason: string | null;

  /** The signing secret (whsec_…), sealed with the token key. */
  @Exclude()
  @Column({ type: 'text' })
  secret: string;

  /** The secret before the last rotation, sealed; messages are signed with it too until previous_secret_until. */
  @Exclude()
  @Column({ name: 'previous_secret', type: 'text', nullable: true })
  previousSecret: string | null;

  @Column({ name: 'previous_secret_until', type: 'timestamptz', nullable: true })
  previousSecretUntil: Date | null;

  /** Since when every delivery attempt to it has failed; null after a success. */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

@Entity('webhook_events')
export class WebhookEvent {
  /** evt_ and 32 hex digits: the body's `id` and the `webhook-id` header of every delivery of it. */
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'pk_webhook_events' })
  id: string;

  @Column({ type: 'text' })
  type: string;

  /** The body sent, exactly: {"id", "type", "created_at", "data"}. */
  @Column({ type: 'text' })
  body: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

@Entity('webhook_deliveries')
@Check('ck_webhook_deliveries_status', `status IN ('pending', 'succeeded', 'failed')`)
@Unique('uq_webhook_deliveries_endpoint_event', ['endpointId', 'eventId'])
@Index('ix_webhook_deliveries_due', ['endpointId', 'nextAttemptAt'], { where: `status = 'pending'` })
@Index('ix_webhook_deliveries_endpoint', ['endpointId', 'createdAt', 'id'])
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_webhook_deliveries' })
  id: string;

  @Column({ name: 'endpoint_id', type: 'uuid' })
  endpointId: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'endpoint_id', foreignKeyConstraintName: 'fk_webhook_deliveries_endpoint' })
  endpoint?: Relation<WebhookEndpoint>;

  @Column({ name: 'event_id', type: 'text' })
  eventId: string;

  @ManyToOne(() => WebhookEvent, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'event_id', foreignKeyConstraintName: 'fk_webhook_deliveries_event' })
  event?: Relation<WebhookEvent>;

  @Column({ type: 'text', default: 'pending' })
  status: 'pending' | 'succeeded' | 'failed';

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** When it is tried next (pending only). */
  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true, default: () => 'now()' })
  nextAttemptAt: Date | null;

  /** While a worker sends it: until when. A lease that lapsed (its worker died) lets another take it. */
  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt: Date | null;
}

@Entity('webhook_attempts')
@Index('ix_webhook_attempts_delivery', ['deliveryId', 'attemptedAt'])
export class WebhookAttempt {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_webhook_attempts' })
  id: string;

  @Column({ name: 'delivery_id', type: 'uuid' })
  deliveryId: string;

  @ManyToOne(() => WebhookDelivery, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id', foreignKeyConstraintName: 'fk_webhook_attempts_delivery' })
  delivery?: Relation<WebhookDelivery>;

  @Column({ name: 'attempted_at', type: 'timestamptz', default: () => 'now()' })
  attemptedAt: Date;

  /** The receiver's HTTP status; null when none came (timeout, refused, an address not allowed). */
  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode: number | null;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs: number;

  /** What went wrong, as a class: timeout, connection_refused, redirect, http_status, address_not_allowed, … */
  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** At most 1 KB of what the receiver answered. */
  @Column({ name: 'response_excerpt', type: 'text', nullable: true })
  responseExcerpt: string | null;
}
