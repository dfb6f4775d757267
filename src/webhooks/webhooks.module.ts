import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { WebhooksConfig } from '../config/webhooks.config.js';
import { WebhookEndpointsController } from './webhook-endpoints.controller.js';
import { WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent } from './webhook.entities.js';
import { WebhookOutbox } from './webhook-outbox.js';
import { WEBHOOK_LEASE_SECONDS, WEBHOOKS_CONFIG, WebhookWorker } from './webhook-worker.js';
import { WebhooksRepository } from './webhooks.repository.js';
import { WebhooksService } from './webhooks.service.js';

/**
 * Webhooks to the consumer's backend: its endpoints (/api/v1/webhook-endpoints), the outbox other
 * modules record their events in (WebhookOutbox, in the transaction of each change), and the sender.
 * It depends on no feature module: users, connections and connect depend on it.
 */
@Module({})
export class WebhooksModule {
  /** `leaseMarginSeconds` (LEASE_MARGIN_SECONDS): a delivery's lease is WEBHOOK_TIMEOUT_MS plus this. */
  static forRoot(config: WebhooksConfig, leaseMarginSeconds: number): DynamicModule {
    return {
      module: WebhooksModule,
      global: true,
      imports: [TypeOrmModule.forFeature([WebhookEndpoint, WebhookEvent, WebhookDelivery, WebhookAttempt])],
      controllers: [WebhookEndpointsController],
      providers: [{ provide: WEBHOOKS_CONFIG, useValue: config }, { provide: WEBHOOK_LEASE_SECONDS, useValue: Math.ceil(config.timeoutMs / 1000) + leaseMarginSeconds }, WebhooksRepository, WebhookOutbox, WebhookWorker, WebhooksService],
      exports: [WebhookOutbox, WebhookWorker],
    };
  }
}
