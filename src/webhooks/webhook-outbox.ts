import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql.js';
import type { WebhookBody, WebhookEventType } from './webhook-events.js';
import { WebhooksRepository } from './webhooks.repository.js';

/** A new event id: evt_ and 32 hex digits (128 random bits). */
export function newEventId(): string {
  return `evt_${randomBytes(16).toString('hex')}`;
}

/**
 * The transactional outbox of the consumer's webhooks. A module that changes something the consumer
 * hears of records the event through `exec`, in the transaction of the change itself: the event and
 * its deliveries are committed with the change or not at all, so that a crash at any point neither
 * loses an event nor sends one for a change that was rolled back. After its commit the caller calls
 * wake(), so that this instance sends within a few milliseconds rather than at its next poll.
 */
@Injectable()
export class WebhookOutbox {
  private readonly wakers = new Set<() => void>();

  constructor(private readonly repository: WebhooksRepository) {}

  /** Records the event for every enabled endpoint that takes its type; whether any does. */
  record(exec: SqlExecutor, type: WebhookEventType, data: Record<string, unknown>): Promise<boolean> {
    const body: WebhookBody = { id: newEventId(), type, created_at: new Date().toISOString(), data };
    return this.repository.record(exec, body.id, type, JSON.stringify(body));
  }

  /** Tells this instance's sender that deliveries were committed. */
  wake(): void {
    for (const waker of this.wakers) waker();
  }

  /** The sender registers here (WebhookWorker). */
  onWake(waker: () => void): void {
    this.wakers.add(waker);
  }
}
