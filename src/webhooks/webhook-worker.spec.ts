import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SchedulerRegistry } from '@nestjs/schedule';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhooksConfig } from '../config/webhooks.config.js';
import type { TokenCipher } from '../crypto/token-cipher.js';
import type { WebhookOutbox } from './webhook-outbox.js';
import { WebhookWorker } from './webhook-worker.js';
import type { ClaimedDeliveryRow, WebhooksRepository } from './webhooks.repository.js';
import { until } from '../../test/support/until.js';

// The worker's slots, against a real receiver over HTTP and a repository whose writes of outcomes
// are held back: an endpoint's slot is its receiver's, the instance's slot lasts until the outcome is stored.
describe('WebhookWorker slots', () => {
  let server: Server;
  let url: string;
  let inFlight = 0;
  let mostInFlight = 0;
  let received = 0;

  beforeEach(async () => {
    inFlight = 0;
    mostInFlight = 0;
    received = 0;
    server = createServer((request, response) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      request.resume();
      request.on('end', () =>
        setTimeout(() => {
          inFlight -= 1;
          received += 1;
          response.writeHead(200).end();
        }, 5),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    server.close();
  });

  /** A repository with `count` due deliveries to one endpoint, claimed as the SQL would; finish() waits for `release`. */
  function fakeRepository(count: number) {
    const due: ClaimedDeliveryRow[] = Array.from({ length: count }, (_, i) => ({
      id: `d${i}`,
      endpoint_id: 'e1',
      attempts: 1,
      url,
      secret: 'sealed',
      previous_secret: null,
      event_id: `msg_${i}`,
      body: JSON.stringify({ id: `msg_${i}` }),
    }));
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let stored = 0;
    let claims = 0;
    const repository = {
      purge: async () => undefined,
      claim: async (limit: number, _lease: number, endpointLimit: number, free: Record<string, number>) => {
        claims += 1;
        return due.splice(0, Math.min(limit, free.e1 ?? endpointLimit));
      },
      finish: async (outcomes: unknown[]) => {
        await gate;
        stored += outcomes.length;
        return new Set<string>();
      },
    };
    return { repository: repository as unknown as WebhooksRepository, release: () => open(), stored: () => stored, claims: () => claims };
  }

  function worker(repository: WebhooksRepository, concurrency: number, endpointConcurrency: number): WebhookWorker {
    const config: WebhooksConfig = {
      timeoutMs: 2000,
      retryDelaysSeconds: [1],
      disableAfterSeconds: 60,
      concurrency,
      endpointConcurrency,
      pollIntervalMs: 60_000,
      allowInsecureUrls: true,
    };
    const cipher = { decrypt: () => `whsec_${Buffer.alloc(32, 7).toString('base64')}` } as unknown as TokenCipher;
    const outbox = { onWake: () => undefined } as unknown as WebhookOutbox;
    return new WebhookWorker(repository, cipher, new SchedulerRegistry(), outbox, config, 10);
  }

  it('gives an endpoint its slot back once the receiver has answered, before the outcome is stored', async () => {
    const fake = fakeRepository(20);
    const sender = worker(fake.repository, 64, 2);
    sender.onApplicationBootstrap();
    await until('20 received', () => received === 20, 5_000, 10);
    // Every delivery reached the receiver while no outcome could be stored, never more than 2 at once.
    expect(received).toBe(20);
    expect(mostInFlight).toBeLessThanOrEqual(2);
    expect(fake.stored()).toBe(0);
    fake.release();
    await sender.onApplicationShutdown();
    expect(fake.stored()).toBe(20);
  });

  it('holds the instance\'s slot until the outcome is stored', async () => {
    const fake = fakeRepository(20);
    const sender = worker(fake.repository, 4, 4);
    sender.onApplicationBootstrap();
    await until('4 received', () => received === 4, 5_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Four sent, none stored: nothing more is sent until their outcomes are.
    expect(received).toBe(4);
    fake.release();
    await until('20 received', () => received === 20, 5_000, 10);
    expect(received).toBe(20);
    await sender.onApplicationShutdown();
    expect(fake.stored()).toBe(20);
  });

  it('claims again as deliveries end only while its last claim was bounded by its slots', async () => {
    const fake = fakeRepository(10);
    fake.release();
    const sender = worker(fake.repository, 64, 64);
    sender.onApplicationBootstrap();
    await until('10 stored', () => fake.stored() === 10, 5_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One claim took all ten with slots to spare: their ends had nothing to claim, and claimed nothing.
    expect(fake.claims()).toBe(1);
    await sender.onApplicationShutdown();
  });
});
