/**
 * Webhooks to the consumer, over real HTTP to receivers on loopback that verify every message with the
 * public `standardwebhooks` library: the endpoints' API, the events of the changes made (and none for a
 * change that did not happen), a secret rotation, a receiver that fails, is slow, is down and comes
 * back, the retry schedule (shortened), a failed delivery retried, an endpoint disabled after failing,
 * a slow endpoint that does not hold up another, and the addresses a webhook may not reach.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { ConnectionsService } from '../src/connections/connections.service.js';
import { TokenCipher } from '../src/crypto/token-cipher.js';
import { JobsService } from '../src/jobs/jobs.service.js';
import { USER_EVENTS } from '../src/users/user.events.js';
import { UsersService } from '../src/users/users.service.js';
import { secretContext } from '../src/webhooks/webhook-worker.js';
import { type ConnectWorld, startConnectWorld } from './support/connect-world.js';
import { FAKE_ACCOUNTS } from './support/fake-providers.js';
import { ADMIN_KEY, TOKEN_KEY } from './support/test-app.js';
import { until } from './support/until.js';
import { type Received, startReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const GARMIN_TOKEN = randomBytes(24).toString('base64url');
const TOKEN_FIELDS = /access_token|refresh_token|"code"|code_verifier/;

let w: ConnectWorld;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  w = await startConnectWorld({
    providers: ['garmin', 'whoop', 'strava'],
    providerEnv: { GARMIN_WEBHOOK_TOKEN: GARMIN_TOKEN },
    webhooks: { allowInsecureUrls: true, retryDelaysSeconds: [1, 1], timeoutMs: 1_000, pollIntervalMs: 100, disableAfterSeconds: 3, endpointConcurrency: 4 },
  });
});

afterAll(async () => {
  w?.expectNoLeaks();
  for (const receiver of receivers) await receiver.stop().catch(() => undefined);
  await w?.close();
});

const api = () => request(w.t.server);
const admin = <T extends request.Test>(test: T): T => test.set('x-api-key', ADMIN_KEY) as T;

async function receiver(): Promise<WebhookReceiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

/** An endpoint for a new receiver that knows its secret. */
async function endpointFor(target: WebhookReceiver, body: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const res = await admin(api().post('/api/v1/webhook-endpoints')).send({ url: target.url, ...body });
  expect(res.status, res.text).toBe(201);
  target.secrets.push(res.body.secret);
  return res.body;
}

async function deleteEndpoint(id: string): Promise<void> {
  expect((await admin(api().delete(`/api/v1/webhook-endpoints/${id}`))).status).toBe(204);
}

async function deliveries(endpointId: string, query = ''): Promise<{ status: string; attempts: { status_code: number | null; error: string | null; attempted_at: string; response_excerpt: string | null }[]; event_id: string; id: string }[]> {
  const res = await admin(api().get(`/api/v1/webhook-endpoints/${endpointId}/deliveries${query}`));
  expect(res.status, res.text).toBe(200);
  return res.body.data;
}

const ofUser = (userId: string) => (message: Received) =>
  JSON.stringify(message.event.data).includes(userId);

const summary = (message: Received) => {
  const data = message.event.data as { reason?: string; connection?: { provider: string }; connect_session?: { provider: string } };
  return [message.event.type, data.connection?.provider ?? data.connect_session?.provider ?? '', data.reason ?? ''].join(' ').trim();
};

describe('/api/v1/webhook-endpoints', () => {
  it('creates an endpoint and shows its secret once; reads, changes and deletes it; needs the admin scope', async () => {
    const created = await admin(api().post('/api/v1/webhook-endpoints')).send({ url: 'http://127.0.0.1:9/hooks', description: 'backend' });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ url: 'http://127.0.0.1:9/hooks', description: 'backend', enabled: true, disabled_reason: null, failing_since: null });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created.body.events).toHaveLength(8);
    const { id } = created.body;

    const read = await admin(api().get(`/api/v1/webhook-endpoints/${id}`));
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('secret');
    expect(JSON.stringify((await admin(api().get('/api/v1/webhook-endpoints'))).body)).not.toContain(created.body.secret);

    const changed = await admin(api().patch(`/api/v1/webhook-endpoints/${id}`)).send({ events: ['connection.revoked'], enabled: false });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({ events: ['connection.revoked'], enabled: false, disabled_reason: 'user', description: 'backend' });
    const back = await admin(api().patch(`/api/v1/webhook-endpoints/${id}`)).send({ events: null, enabled: true, description: null });
    expect(back.body).toMatchObject({ enabled: true, disabled_reason: null, description: null });
    expect(back.body.events).toHaveLength(8);

    for (const [body, detail] of [
      [{ url: 'ftp://example.com/x' }, 'url must be http:// or https://'],
      [{ url: 'not a url' }, 'url must be an absolute URL'],
      [{ url: 'https://user:pw@example.com/x' }, 'url must not contain credentials'],
      [{ url: 'https://example.com/x', events: ['connection.exploded'] }, 'events must each be one of'],
      [{ url: 'https://example.com/x', events: [] }, 'events must name at least one event type'],
      [{ url: 'https://example.com/x', colour: 'red' }, 'colour'],
    ] as const) {
      const res = await admin(api().post('/api/v1/webhook-endpoints')).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.detail).toContain(detail);
    }
    expect((await api().get('/api/v1/webhook-endpoints')).status).toBe(401);
    await deleteEndpoint(id);
    expect((await admin(api().get(`/api/v1/webhook-endpoints/${id}`))).status).toBe(404);
    expect((await admin(api().delete(`/api/v1/webhook-endpoints/${id}`))).status).toBe(404);
    expect((await admin(api().get('/api/v1/webhook-endpoints/not-a-uuid'))).status).toBe(400);
  });
});

describe('the events', () => {
  it('match the changes made, one by one: connect, sync, refresh failure, disconnect, reconnect, provider deauthorization, user deleted', async () => {
    const target = await receiver();
    const endpoint = await endpointFor(target);
    const userId = await w.createUser();

    // An imported connection whose refresh token the provider does not know: its refresh fails.
    const put = await admin(api().put(`/api/v1/users/${userId}/connections/whoop`)).send({
      access_token: `whoop-access-${randomUUID()}`,
      refresh_token: `whoop-refresh-${randomUUID()}`,
      token_expires_at: new Date(Date.now() + 60_000).toISOString(),
      provider_user_id: `whoop-${userId}`,
    });
    expect(put.status, put.text).toBe(201);
    const refresh = await admin(api().post(`/api/v1/users/${userId}/connections/whoop/refresh`));
    expect(refresh.body.outcome, refresh.text).toBe('expired');

    const connect = async () => {
      const visits = await w.run(w.browser(), (await w.createSession(userId, { provider: 'garmin' })).url);
      return w.returned(visits.at(-1)!);
    };
    const first = await connect();
    expect(first.status).toBe('connected');
    await w.t.app.get(ConnectionsService).recordSync(first.connection_id!);
    expect((await w.api('delete', `/api/v1/users/${userId}/connections/garmin`)).status).toBe(204);
    expect((await connect()).status).toBe('connected');
    // Garmin tells us the user removed the app there.
    const notice = await api().post(`/webhooks/providers/garmin/${GARMIN_TOKEN}`).send({ deregistrations: [{ userId: FAKE_ACCOUNTS.garmin.userId }] });
    expect(notice.status).toBe(200);
    await w.t.app.get(JobsService).drain();
    // A flow the user refuses at the provider.
    w.fake.failNext('strava', 'authorize', { refuse: true });
    const refused = w.returned((await w.run(w.browser(), (await w.createSession(userId, { provider: 'strava' })).url)).at(-1)!);
    expect(refused.error).toBe('access_denied');
    expect((await admin(api().put(`/api/v1/users/${userId}/connections/strava`)).send({ access_token: `strava-${randomUUID()}` })).status).toBe(201);
    expect((await w.api('delete', `/api/v1/users/${userId}`)).status).toBe(204);

    const expected = [
      'connection.created whoop linked',
      'connection.expired whoop refresh_failed',
      'connection.created garmin linked',
      'connect_session.completed garmin',
      'connection.synced garmin synced',
      'connection.revoked garmin user_disconnected',
      'connection.created garmin relinked',
      'connect_session.completed garmin',
      'connection.revoked garmin provider_deregistered',
      'connect_session.failed strava',
      'connection.created strava linked',
      'connection.revoked strava user_deleted',
      'user.deleted',
    ];
    const messages = await target.until(expected.length, ofUser(userId));
    expect(messages.map(summary).sort()).toEqual([...expected].sort());
    // In the order they happened (by created_at), each connection's story reads right.
    const byTime = [...messages].sort((a, b) => a.event.created_at.localeCompare(b.event.created_at)).map(summary);
    expect(byTime.filter((line) => line.includes(' garmin ') && line.startsWith('connection.'))).toEqual(expected.filter((line) => line.includes(' garmin ') && line.startsWith('connection.')));

    for (const message of messages) {
      expect(message.verifiedWith, message.body).toEqual([endpoint.secret]);
      expect(message.headers['webhook-id']).toBe(message.event.id);
      expect(message.event.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(Object.keys(message.event).sort()).toEqual(['created_at', 'data', 'id', 'type']);
      expect(message.body).not.toMatch(TOKEN_FIELDS);
      for (const secret of w.fake.secrets()) expect(message.body).not.toContain(secret);
    }
    const revoked = messages.find((message) => summary(message) === 'connection.revoked garmin provider_deregistered')!;
    expect(revoked.event.data).toEqual({
      connection: expect.objectContaining({ user_id: userId, provider: 'garmin', status: 'revoked', provider_user_id: FAKE_ACCOUNTS.garmin.userId }),
      reason: 'provider_deregistered',
    });
    // Every delivery succeeded at its first attempt (once the last answers are stored).
    const log = await until('the log to show every delivery succeeded', async () => {
      const succeeded = await deliveries(endpoint.id, '?status=succeeded');
      return succeeded.length >= expected.length && succeeded;
    });
    expect(log.every((delivery) => delivery.attempts.length === 1)).toBe(true);
    expect(messages.find((message) => message.event.type === 'user.deleted')!.event.data).toEqual({ user: { id: userId } });
    await deleteEndpoint(endpoint.id);
  });

  it('sends nothing of a change that was rolled back: a user deletion whose last part fails', async () => {
    const target = await receiver();
    const endpoint = await endpointFor(target);
    const userId = await w.createUser();
    expect((await admin(api().put(`/api/v1/users/${userId}/connections/strava`)).send({ access_token: `s-${randomUUID()}` })).status).toBe(201);
    await target.until(1, ofUser(userId));
    // Another module's part of the deletion fails after the connections' part recorded connection.revoked.
    const events = w.t.app.get(EventEmitter2);
    const failing = async () => {
      throw new Error('the other part failed');
    };
    events.on(USER_EVENTS.deleting, failing);
    try {
      await expect(w.t.app.get(UsersService).delete(userId)).rejects.toThrow('the other part failed');
    } finally {
      events.off(USER_EVENTS.deleting, failing);
    }
    // A test event sent after it arrives, and nothing of the deletion before or with it.
    const test = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    await target.until(1, (message) => message.event.id === test.body.event_id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(target.received.filter(ofUser(userId)).map(summary)).toEqual(['connection.created strava linked']);
    const [{ n }] = await w.t.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_events WHERE body LIKE $1`, [`%${userId}%`]);
    expect(n).toBe(1);
    await deleteEndpoint(endpoint.id);
  });

  it('sends nothing for a change that did not happen, and only the types an endpoint takes', async () => {
    const everything = await receiver();
    const revokedOnly = await receiver();
    const all = await endpointFor(everything);
    const some = await endpointFor(revokedOnly, { events: ['connection.revoked'] });
    const userId = await w.createUser();
    // No such user: the write fails, and no event is sent for it.
    const ghost = randomUUID();
    expect((await admin(api().put(`/api/v1/users/${ghost}/connections/whoop`)).send({ access_token: 'x' })).status).toBe(404);
    // Revoking a revoked connection changes nothing.
    expect((await admin(api().put(`/api/v1/users/${userId}/connections/strava`)).send({ access_token: `s-${randomUUID()}` })).status).toBe(201);
    expect((await w.api('delete', `/api/v1/users/${userId}/connections/strava`)).status).toBe(204);
    expect((await w.api('delete', `/api/v1/users/${userId}/connections/strava`)).status).toBe(204);
    await everything.until(2, ofUser(userId));
    await revokedOnly.until(1, ofUser(userId));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(everything.received.filter(ofUser(userId)).map(summary).sort()).toEqual(['connection.created strava linked', 'connection.revoked strava user_disconnected']);
    expect(revokedOnly.received.filter(ofUser(userId)).map(summary)).toEqual(['connection.revoked strava user_disconnected']);
    expect([...everything.received, ...revokedOnly.received].some((message) => message.body.includes(ghost))).toBe(false);
    await deleteEndpoint(all.id);
    await deleteEndpoint(some.id);
  });
});

describe('delivery', () => {
  it('signs with the old secret too for a day after a rotation, so that receivers verify with either', async () => {
    const target = await receiver();
    const endpoint = await endpointFor(target);
    const rotated = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`));
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    target.secrets.push(rotated.body.secret);
    const test = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    expect(test.status, test.text).toBe(202);
    const [message] = await target.until(1, (m) => m.event.id === test.body.event_id);
    expect(message.event.type).toBe('webhook.test');
    expect(message.verifiedWith.sort()).toEqual([endpoint.secret, rotated.body.secret].sort());
    expect(String(message.headers['webhook-signature']).split(' ')).toHaveLength(2);
    await deleteEndpoint(endpoint.id);
  });

  it('retries a receiver that fails, then is slow, then is down, on the schedule, with one webhook-id, until it answers 2xx', async () => {
    const target = await receiver();
    const endpoint = await endpointFor(target);
    target.script.push({ status: 503, body: 'x'.repeat(5_000) }, { delayMs: 1_500 });
    const test = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    const messages = await target.until(3, (m) => m.event.id === test.body.event_id);
    expect(new Set(messages.map((m) => m.headers['webhook-id']))).toEqual(new Set([test.body.event_id]));
    const [delivery] = await until('the third attempt to be stored', async () => {
      const log = await deliveries(endpoint.id);
      return log[0]?.status === 'succeeded' && log;
    });
    expect(delivery.attempts.map((attempt) => [attempt.status_code, attempt.error])).toEqual([
      [503, 'http_status'],
      [null, 'timeout'],
      [200, null],
    ]);
    // The receiver's answer is kept to 1 KB.
    expect(delivery.attempts[0].response_excerpt).toHaveLength(1024);
    // About a second between attempts (WEBHOOK_RETRY_DELAYS_SECONDS=1,1), after the timeout for the slow one.
    const times = delivery.attempts.map((attempt) => Date.parse(attempt.attempted_at));
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(900);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(900);

    // Down (connection refused), then back on the same port: the next attempt arrives.
    await target.stop();
    const second = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    await until('a refused attempt', async () => (await deliveries(endpoint.id))[0]?.attempts[0]?.error === 'connection_refused');
    await target.start();
    await target.until(1, (m) => m.event.id === second.body.event_id);
    await deleteEndpoint(endpoint.id);
  });

  it('fails a delivery once the schedule is used up; retry sends it again; an endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled', async () => {
    const target = await receiver();
    target.defaultBehaviour = { status: 500 };
    const endpoint = await endpointFor(target);
    const test = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    const failed = await until('the delivery to fail', async () => {
      const [delivery] = await deliveries(endpoint.id, '?status=failed');
      return delivery;
    });
    expect(failed.attempts).toHaveLength(3);
    expect(failed.event_id).toBe(test.body.event_id);
    expect(await deliveries(endpoint.id, '?status=pending')).toEqual([]);

    target.defaultBehaviour = { status: 204 };
    const retried = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed.id}/retry`));
    expect(retried.status, retried.text).toBe(202);
    await until('the retried delivery to succeed', async () => (await deliveries(endpoint.id, '?status=succeeded'))[0]?.attempts.length === 4);
    expect((await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/deliveries/${randomUUID()}/retry`))).status).toBe(404);

    // Failing again, for longer than WEBHOOK_DISABLE_AFTER_SECONDS (3 s here): disabled, and what is new waits.
    target.defaultBehaviour = { status: 500 };
    const disabled = await until(
      'the endpoint to be disabled',
      async () => {
        await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
        await new Promise((resolve) => setTimeout(resolve, 500));
        const res = await admin(api().get(`/api/v1/webhook-endpoints/${endpoint.id}`));
        return res.body.enabled === false && res.body;
      },
      15_000,
    );
    expect(disabled).toMatchObject({ enabled: false, disabled_reason: 'failing' });
    expect(disabled.failing_since).not.toBeNull();
    target.defaultBehaviour = { status: 200 };
    const waiting = await admin(api().post(`/api/v1/webhook-endpoints/${endpoint.id}/test`));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(target.received.some((m) => m.event.id === waiting.body.event_id)).toBe(false);
    expect((await admin(api().patch(`/api/v1/webhook-endpoints/${endpoint.id}`)).send({ enabled: true })).body).toMatchObject({ enabled: true, failing_since: null });
    await target.until(1, (m) => m.event.id === waiting.body.event_id);
    await deleteEndpoint(endpoint.id);
  });

  it('a slow endpoint holds its own slots only: another endpoint gets every event at once', async () => {
    const slow = await receiver();
    const fast = await receiver();
    slow.defaultBehaviour = 'hold';
    const a = await endpointFor(slow, { events: ['connection.created'] });
    const b = await endpointFor(fast, { events: ['connection.created'] });
    const userId = await w.createUser();
    for (const provider of ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings']) {
      expect((await admin(api().put(`/api/v1/users/${userId}/connections/${provider}`)).send({ access_token: `${provider}-${randomUUID()}` })).status).toBe(201);
    }
    await fast.until(8, ofUser(userId), 5_000);
    // At most WEBHOOK_ENDPOINT_CONCURRENCY (4 here) at once to the slow one.
    await until('the slow endpoint to hold its share', async () => slow.held() === 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slow.held()).toBe(4);
    slow.defaultBehaviour = { status: 200 };
    slow.release();
    await slow.until(8, ofUser(userId));
    await deleteEndpoint(a.id);
    await deleteEndpoint(b.id);
  });

  it('pages the delivery log, and refuses a bad status or cursor', async () => {
    const target = await receiver();
    const endpoint = await endpointFor(target);
    for (const query of ['?status=bogus', '?cursor=nope', `?cursor=${Buffer.from('2026-01-01 00:00:00|x').toString('base64url')}`]) {
      const res = await admin(api().get(`/api/v1/webhook-endpoints/${endpoint.id}/deliveries${query}`));
      expect(res.status, query).toBe(400);
    }
    const res = await admin(api().get(`/api/v1/webhook-endpoints/${endpoint.id}/deliveries`));
    expect(res.body).toEqual({ data: [], next_cursor: null });
    await deleteEndpoint(endpoint.id);
  });
});

describe('where a webhook may not go', () => {
  let strict: ConnectWorld;
  beforeAll(async () => {
    strict = await startConnectWorld({ providers: ['garmin'], webhooks: { pollIntervalMs: 100, timeoutMs: 1_000 } });
  });
  afterAll(async () => {
    await strict?.close();
  });

  it('refuses http://, and URLs that resolve to loopback, private, link-local or metadata addresses, when created', async () => {
    for (const url of ['http://example.com/hooks', 'https://127.0.0.1/hooks', 'https://10.0.0.1/hooks', 'https://169.254.169.254/latest', 'https://[::1]/hooks', 'https://localhost/hooks', 'https://[::ffff:127.0.0.1]/x']) {
      const res = await request(strict.t.server).post('/api/v1/webhook-endpoints').set('x-api-key', ADMIN_KEY).send({ url });
      expect(res.status, url).toBe(400);
      expect(res.body.detail, url).toMatch(/^url (must be https|resolves to an address that is not allowed)/);
    }
  });

  it('refuses them when delivering too, against the address actually connected to', async () => {
    const target = await receiver();
    const cipher = new TokenCipher(TOKEN_KEY);
    for (const url of [`https://127.0.0.1:${target.port}/hooks`, `https://localhost:${target.port}/hooks`]) {
      // Written as if it had resolved elsewhere when it was created (a DNS rebinding).
      const id = randomUUID();
      await strict.t.query(`INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, $2, $3)`, [id, url, cipher.encrypt(`whsec_${randomBytes(24).toString('base64')}`, secretContext(id))]);
      const test = await request(strict.t.server).post(`/api/v1/webhook-endpoints/${id}/test`).set('x-api-key', ADMIN_KEY);
      expect(test.status).toBe(202);
      const attempt = await until('the refused attempt', async () => {
        const res = await request(strict.t.server).get(`/api/v1/webhook-endpoints/${id}/deliveries`).set('x-api-key', ADMIN_KEY);
        return res.body.data[0]?.attempts[0];
      });
      expect(attempt, url).toMatchObject({ status_code: null, error: 'address_not_allowed' });
    }
    expect(target.received).toEqual([]);
  });
});
