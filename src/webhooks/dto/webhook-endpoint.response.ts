import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhook-events.js';
import type { DeliveryRow, EndpointRow } from '../webhooks.repository.js';

@ApiSchema({ name: 'WebhookEndpoint', description: 'Where the consumer hears of changes; never its secret' })
export class WebhookEndpointResponse {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uri', example: 'https://api.example.com/hooks/wearables' })
  url: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true, description: 'The event types sent to it' })
  events: WebhookEventType[];

  @ApiProperty({ type: String, nullable: true })
  description: string | null;

  @ApiProperty({ description: 'Whether deliveries are sent; pending ones wait while it is not' })
  enabled: boolean;

  @ApiProperty({ type: String, nullable: true, enum: ['failing', 'user'], description: 'failing: every delivery failed for 5 days; user: disabled through PATCH' })
  disabled_reason: 'failing' | 'user' | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Since when every delivery attempt has failed' })
  failing_since: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ format: 'date-time' })
  updated_at: string;
}

@ApiSchema({ name: 'CreatedWebhookEndpoint', description: 'A new endpoint (or a rotated secret), with its secret: the only time it is shown' })
export class CreatedWebhookEndpointResponse extends WebhookEndpointResponse {
  @ApiProperty({ description: 'The Standard Webhooks signing secret', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret: string;
}

@ApiSchema({ name: 'WebhookAttempt', description: 'One attempt of a delivery: when, what the receiver answered, how long it took' })
export class WebhookAttemptResponse {
  @ApiProperty({ format: 'date-time' })
  attempted_at: string;

  @ApiProperty({ type: Number, nullable: true, description: "The receiver's HTTP status; null when none came" })
  status_code: number | null;

  @ApiProperty()
  duration_ms: number;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'http_status, redirect, timeout, connection_refused, connection_reset, dns_failed, tls_error, address_not_allowed, network_error',
  })
  error: string | null;

  @ApiProperty({ type: String, nullable: true, maxLength: 1024, description: "At most 1 KB of the receiver's answer" })
  response_excerpt: string | null;
}

@ApiSchema({ name: 'WebhookDelivery', description: 'One event sent to one endpoint, with its attempts' })
export class WebhookDeliveryResponse {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ description: "The event's id: the body's id and the webhook-id header", example: 'evt_3f1c0e9b2a7d4c5e8f6a1b2c3d4e5f60' })
  event_id: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES })
  event_type: string;

  @ApiProperty({ enum: ['pending', 'succeeded', 'failed'] })
  status: 'pending' | 'succeeded' | 'failed';

  @ApiProperty({ type: [WebhookAttemptResponse] })
  attempts: WebhookAttemptResponse[];

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it is tried next (pending only)' })
  next_attempt_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  ended_at: string | null;
}

@ApiSchema({ name: 'WebhookDeliveryPage', description: 'Deliveries, newest first' })
export class WebhookDeliveryPageResponse {
  @ApiProperty({ type: [WebhookDeliveryResponse] })
  data: WebhookDeliveryResponse[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as cursor for the next page; null on the last' })
  next_cursor: string | null;
}

@ApiSchema({ name: 'WebhookTest', description: 'The webhook.test event, queued for this endpoint' })
export class WebhookTestResponse {
  @ApiProperty({ format: 'uuid' })
  delivery_id: string;

  @ApiProperty()
  event_id: string;
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

export function toEndpointResponse(row: EndpointRow): WebhookEndpointResponse {
  return {
    id: row.id,
    url: row.url,
    events: (row.events ?? [...WEBHOOK_EVENT_TYPES]) as WebhookEventType[],
    description: row.description,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason as WebhookEndpointResponse['disabled_reason'],
    failing_since: iso(row.failing_since),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
  };
}

export function toDeliveryResponse(row: DeliveryRow): WebhookDeliveryResponse {
  return {
    id: row.id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts.map((attempt) => ({ ...attempt, attempted_at: iso(attempt.attempted_at)! })),
    next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    created_at: iso(row.created_at)!,
    ended_at: iso(row.ended_at),
  };
}
