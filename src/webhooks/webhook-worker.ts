import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { WebhooksConfig } from '../config/webhooks.config.js';
import { TokenCipher } from '../crypto/token-cipher.js';
import { WebhookOutbox } from './webhook-outbox.js';
import { type AttemptResult, send } from './webhook-sender.js';
import { type AttemptOutcome, type ClaimedDeliveryRow, WebhooksRepository } from './webhooks.repository.js';

type FinishedAttempt = AttemptOutcome & { deliveryId: string; attempt: number };

export const WEBHOOKS_CONFIG = Symbol('WEBHOOKS_CONFIG');
/** How long a sender holds a delivery: WEBHOOK_TIMEOUT_MS plus LEASE_MARGIN_SECONDS. */
export const WEBHOOK_LEASE_SECONDS = Symbol('WEBHOOK_LEASE_SECONDS');

/** The name the sender's timer is registered under in @nestjs/schedule's SchedulerRegistry. */
export const WEBHOOK_WORKER = 'webhooks.worker';
/** Ended deliveries (and their attempts and events) are kept this long for the log, then deleted. */
const KEEP_ENDED_DAYS = 30;
const PURGE_EVERY_MS = 3_600_000;
/**
 * How long the wake-ups of commits are gathered before one claim, and outcomes before one write: a
 * claim or an outcome's write costs PostgreSQL about as much for one delivery as for twenty.
 */
const WAKE_GATHER_MS = 20;
const FINISH_GATHER_MS = 5;

/** The sealing context of an endpoint's secrets: they open for that endpoint only. */
export function secretContext(endpointId: string): string {
  return `webhook_endpoints/${endpointId}/secret`;
}

/**
 * Sends the deliveries: every WEBHOOK_POLL_INTERVAL_MS, and within WAKE_GATHER_MS when this instance commits some
 * (WebhookOutbox.wake), it claims due ones (SKIP LOCKED and a lease of WEBHOOK_TIMEOUT_MS plus
 * LEASE_MARGIN_SECONDS: a delivery whose sender died is taken again once it lapses, so each is sent at least once)
 * and sends up to WEBHOOK_CONCURRENCY at a time, at most WEBHOOK_ENDPOINT_CONCURRENCY to one endpoint,
 * so that a slow endpoint holds its own slots only. No database connection is held while a receiver
 * answers. A failure is tried again after the next of WEBHOOK_RETRY_DELAYS_SECONDS, and once they are
 * used up the delivery is failed. Ended deliveries are kept 30 days for the log.
 */
@Injectable()
export class WebhookWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Webhooks');
  private readonly running = new Set<Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();
  private readonly secrets = new Map<string, string>();
  private readonly toFinish: { outcome: FinishedAttempt; resolve: () => void; reject: (error: Error) => void }[] = [];
  private finishing: Promise<void> | undefined;
  private ticking: Promise<void> | undefined;
  private lookAgain = false;
  /**
   * Whether the last claim was bounded by this instance's slots (or an endpoint's), so that more may
   * be due: only then does a delivery that ends claim again. Otherwise what comes due is found by the
   * wake-up of its commit or by the poll, and an ending delivery claims nothing (a claim per delivery
   * ended had PostgreSQL run about one claim every two deliveries, most finding one or none).
   */
  private bounded = false;
  private stopped = false;
  private lastPurge = 0;
  private wakeSoon: NodeJS.Timeout | undefined;
  constructor(
    private readonly repository: WebhooksRepository,
    private readonly cipher: TokenCipher,
    private readonly scheduler: SchedulerRegistry,
    outbox: WebhookOutbox,
    @Inject(WEBHOOKS_CONFIG) private readonly config: WebhooksConfig,
    @Inject(WEBHOOK_LEASE_SECONDS) private readonly leaseSeconds: number,
  ) {
    // Commits come one per change: their wake-ups are gathered for a moment, so that one claim takes
    // the deliveries of many changes rather than one each.
    outbox.onWake(() => {
      this.wakeSoon ??= setTimeout(() => {
        this.wakeSoon = undefined;
        this.wake();
      }, WAKE_GATHER_MS);
    });
  }

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(WEBHOOK_WORKER, setInterval(() => this.wake(), this.config.pollIntervalMs));
    this.wake();
  }

  /** Stops claiming and waits for the deliveries under way (at most their timeout). */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeSoon);
    if (this.scheduler.doesExist('interval', WEBHOOK_WORKER)) this.scheduler.deleteInterval(WEBHOOK_WORKER);
    await Promise.allSettled([this.ticking, ...this.running]);
    await this.finishing;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.lookAgain = true;
      return;
    }
    void this.tick();
  }

  private tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.claimAndSend().finally(() => {
      this.ticking = undefined;
      if (this.lookAgain) {
        this.lookAgain = false;
        this.wake();
      }
    });
    return this.ticking;
  }

  private async claimAndSend(): Promise<void> {
    try {
      if (Date.now() - this.lastPurge > PURGE_EVERY_MS) {
        this.lastPurge = Date.now();
        await this.repository.purge(KEEP_ENDED_DAYS);
      }
      for (;;) {
        const free = this.config.concurrency - this.running.size;
        if (this.stopped) return;
        if (free <= 0) {
          this.bounded = true;
          return;
        }
        const freeByEndpoint: Record<string, number> = {};
        for (const [endpoint, count] of this.perEndpoint) freeByEndpoint[endpoint] = Math.max(0, this.config.endpointConcurrency - count);
        const claimed = await this.repository.claim(free, this.leaseSeconds, this.config.endpointConcurrency, freeByEndpoint);
        for (const delivery of claimed) this.start(delivery);
        this.bounded = claimed.length >= free || this.anyEndpointFull();
        if (claimed.length < free) return;
      }
    } catch (error) {
      this.logger.warn(`Could not claim webhook deliveries: ${(error as Error).message}`);
    }
  }

  private anyEndpointFull(): boolean {
    for (const count of this.perEndpoint.values()) if (count >= this.config.endpointConcurrency) return true;
    return false;
  }

  /** After a delivery's slot is given back: claims again if the last claim may have left due ones for want of slots. */
  private slotFreed(): void {
    if (this.bounded) this.wake();
  }

  /**
   * Sends one delivery. Its endpoint's slot is given back as soon as the receiver has answered (or
   * not): the bound is on requests to the receiver, and writing the outcome is ours. The instance's
   * slot (WEBHOOK_CONCURRENCY) is held until the outcome is stored, which bounds what waits for it.
   */
  private start(delivery: ClaimedDeliveryRow): void {
    this.perEndpoint.set(delivery.endpoint_id, (this.perEndpoint.get(delivery.endpoint_id) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.perEndpoint.get(delivery.endpoint_id) ?? 1) - 1;
      if (left > 0) this.perEndpoint.set(delivery.endpoint_id, left);
      else this.perEndpoint.delete(delivery.endpoint_id);
      this.slotFreed();
    };
    const run = this.deliver(delivery, release).finally(() => {
      this.running.delete(run);
      release();
      this.slotFreed();
    });
    this.running.add(run);
  }

  /**
   * Stores an outcome with the others that end meanwhile: one statement per batch rather than per
   * delivery (each is a commit). Resolves once its batch is written.
   */
  private finished(outcome: FinishedAttempt): Promise<void> {
    return new Promise((resolve, reject) => {
      this.toFinish.push({ outcome, resolve, reject });
      if (!this.finishing) this.finishing = this.writeFinished();
    });
  }

  private async writeFinished(): Promise<void> {
    // Let the outcomes that end in the next few milliseconds join the batch.
    await new Promise((resolve) => setTimeout(resolve, FINISH_GATHER_MS));
    while (this.toFinish.length > 0) {
      const batch = this.toFinish.splice(0, 200);
      try {
        await this.repository.finish(batch.map((entry) => entry.outcome), this.config.disableAfterSeconds);
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error as Error);
      }
    }
    this.finishing = undefined;
  }

  /** An endpoint's secret, opened once per sealed value (a rotation seals a new one). */
  private opened(sealed: string, endpointId: string): string {
    let secret = this.secrets.get(sealed);
    if (secret === undefined) {
      if (this.secrets.size >= 1000) this.secrets.clear();
      secret = this.cipher.decrypt(sealed, secretContext(endpointId));
      this.secrets.set(sealed, secret);
    }
    return secret;
  }

  private async deliver(delivery: ClaimedDeliveryRow, answered: () => void): Promise<void> {
    let result: AttemptResult;
    try {
      const secrets = [delivery.secret, delivery.previous_secret]
        .filter((value): value is string => value !== null)
        .map((sealed) => this.opened(sealed, delivery.endpoint_id));
      result = await send({ url: delivery.url, eventId: delivery.event_id, body: delivery.body, secrets }, this.config.timeoutMs, this.config.allowInsecureUrls);
    } catch (error) {
      result = { ok: false, statusCode: null, durationMs: 0, error: (error as Error).name, excerpt: null };
    }
    answered();
    const delays = this.config.retryDelaysSeconds;
    const retryAt = result.ok || delivery.attempts > delays.length ? null : new Date(Date.now() + delays[delivery.attempts - 1] * 1000);
    try {
      await this.finished({ ...result, retryAt, deliveryId: delivery.id, attempt: delivery.attempts });
    } catch (error) {
      // The delivery keeps its lease until it lapses, then is sent again: at least once.
      this.logger.warn(`Could not store a webhook delivery's outcome: ${(error as Error).message}`);
    }
    if (!result.ok) this.logger.log(`Webhook delivery ${delivery.id} attempt ${delivery.attempts} failed (${result.error}${result.statusCode ? ` ${result.statusCode}` : ''})`);
  }
}
