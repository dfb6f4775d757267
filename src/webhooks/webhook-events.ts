/** Every event type a webhook endpoint can take (`events` defaults to all of them). */
export const WEBHOOK_EVENT_TYPES = [
  'connection.created',
  'connection.revoked',
  'connection.expired',
  'connection.synced',
  'connect_session.completed',
  'connect_session.failed',
  'user.deleted',
  'webhook.test',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The body of every webhook: `data` depends on the type, and never holds a token. */
export interface WebhookBody {
  id: string;
  type: WebhookEventType;
  created_at: string;
  data: Record<string, unknown>;
}
