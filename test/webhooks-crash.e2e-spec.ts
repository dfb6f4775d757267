/**
 * Webhooks survive a crash: the compiled service records an event for each connection made, and is
 * SIGKILLed while some deliveries are in flight (held by the receiver) and the rest pending; a new
 * process on the same database (PostgreSQL with DATABASE_URL, else the embedded one's data directory)
 * delivers every one of them, each at least once with the same webhook-id and a signature the
 * `standardwebhooks` verifier accepts, and nothing else: the events received are compared, one by
 * one, with the changes made.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { type SpawnedService, spawnService } from './support/spawn-service.js';
import { type Received, startReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { until } from './support/until.js';

const API_KEY = `webhooks-crash-key-${randomBytes(8).toString('hex')}`;
const CONNECTIONS = 12;

describe('webhooks across a SIGKILL', () => {
  const services: SpawnedService[] = [];
  let receiver: WebhookReceiver | undefined;

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await receiver?.stop();
  });

  it('loses no event: those in flight and those pending at the kill all arrive after a restart, and only those', { timeout: 180_000 }, async () => {
    receiver = await startReceiver();
    receiver.defaultBehaviour = 'hold';
    const env = {
      BOOTSTRAP_API_KEY: API_KEY,
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      WEBHOOK_TIMEOUT_MS: '5000',
      WEBHOOK_ENDPOINT_CONCURRENCY: '3',
      WEBHOOK_POLL_INTERVAL_MS: '200',
      WEBHOOK_RETRY_DELAYS_SECONDS: '1',
      // Leases of WEBHOOK_TIMEOUT_MS + 2 s: those in flight at the kill are taken over 7 s later.
      LEASE_MARGIN_SECONDS: '2',
    };
    const first = await spawnService('webhooks-crash', env, { dataDir: true });
    services.push(first);
    const call = async (service: SpawnedService, method: string, path: string, body?: object) => {
      const res = await fetch(`http://127.0.0.1:${service.port}${path}`, {
        method,
        headers: { 'x-api-key': API_KEY, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json().catch(() => undefined)) as Record<string, string> };
    };
    const endpoint = await call(first, 'POST', '/api/v1/webhook-endpoints', { url: receiver.url, events: ['connection.created'] });
    expect(endpoint.status).toBe(201);
    receiver.secrets.push(endpoint.body.secret);

    const made: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const userId = randomUUID();
      expect((await call(first, 'POST', '/api/v1/users', { id: userId })).status).toBe(201);
      const put = await call(first, 'PUT', `/api/v1/users/${userId}/connections/garmin`, { access_token: `garmin-${randomBytes(8).toString('hex')}` });
      expect(put.status).toBe(201);
      made.push(put.body.id);
    }
    // Three are in flight at the receiver, which holds them; the others wait their turn.
    await receiver.until(3);
    await first.kill();
    expect(receiver.held()).toBe(3);
    receiver.release();
    // What arrives from here on is the new process's: the three held ones never got their answer.
    const afterKill = receiver.received.length;

    // A new process on the same data; the receiver answers now.
    receiver.defaultBehaviour = { status: 200 };
    const second = await spawnService('webhooks-crash', env, { sameDataAs: first });
    services.push(second);
    const connectionOf = (message: Received) => (message.event.data as { connection: { id: string } }).connection.id;
    await until('the events of every connection after the kill', () => new Set(receiver!.received.slice(afterKill).map(connectionOf)).size === CONNECTIONS, 120_000, 100);

    // Exactly the changes made, each delivered by the new process (those in flight at the kill again,
    // once their lease lapsed); a repeat (sent before the kill, again after) has the same id.
    expect([...new Set(receiver.received.slice(afterKill).map(connectionOf))].sort()).toEqual([...made].sort());
    expect([...new Set(receiver.received.map(connectionOf))].sort()).toEqual([...made].sort());
    const idsByConnection = new Map<string, Set<string>>();
    for (const message of receiver.received) {
      expect(message.verifiedWith).toEqual([endpoint.body.secret]);
      expect(message.event.type).toBe('connection.created');
      expect(message.headers['webhook-id']).toBe(message.event.id);
      idsByConnection.set(connectionOf(message), (idsByConnection.get(connectionOf(message)) ?? new Set()).add(message.event.id));
    }
    for (const [connection, ids] of idsByConnection) expect(ids.size, connection).toBe(1);
    // The log agrees, once the last answers are stored: every delivery succeeded.
    const succeeded = async () =>
      ((await call(second, 'GET', `/api/v1/webhook-endpoints/${endpoint.body.id}/deliveries?status=succeeded`)).body as unknown as { data: unknown[] }).data.length;
    const deadline = Date.now() + 30_000;
    while ((await succeeded()) < CONNECTIONS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await succeeded()).toBe(CONNECTIONS);
    expect(second.output()).not.toContain(endpoint.body.secret);
  });
});

