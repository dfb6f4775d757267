/**
 * Connections stay alive: the background refresher and POST …/refresh against the fake providers
 * over real HTTP, connections made by the real connect flow. Refreshes ahead of expiry for every
 * provider with a refresh grant (rotated refresh tokens stored with the access token), never for
 * Polar and Coros; a transient failure changes nothing and waits on the schedule (or Retry-After); a
 * refresh token the provider really rejects makes the connection expired (refresh_failed), one a
 * racing instance rotated does not; callers racing in one process, or in two instances on one
 * PostgreSQL, refresh once; a slow provider holds no database connection. On the embedded database,
 * or on PostgreSQL with DATABASE_URL (the two-instance test there only).
 */
import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_EVENTS, type ConnectionEvent } from '../src/connections/connection.events.js';
import { type Provider, PROVIDERS } from '../src/connections/providers.js';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { RefreshService } from '../src/refresh/refresh.service.js';
import { CLIENTS, type ConnectWorld, startConnectWorld } from './support/connect-world.js';
import { FAKE_EXPIRES_IN } from './support/fake-providers.js';
import { ADMIN_KEY, TOKEN_KEY } from './support/test-app.js';

const PROVIDER_TIMEOUT_MS = 1_000;
const REFRESHABLE: Provider[] = ['garmin', 'strava', 'suunto', 'whoop', 'oura', 'fitbit', 'withings'];
const ROTATING: Provider[] = ['garmin', 'strava', 'suunto', 'whoop', 'oura', 'withings'];
const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

let w: ConnectWorld;
const cipher = new TokenCipher(TOKEN_KEY);

beforeAll(async () => {
  // The refresher's own timer is out of the way (an hour): the tests run its passes themselves.
  w = await startConnectWorld({
    providerTimeoutMs: PROVIDER_TIMEOUT_MS,
    background: { refresh: { intervalSeconds: 3_600, aheadSeconds: 600, concurrency: 4, retryDelaysSeconds: [60, 300, 900, 3_600] } },
  });
});

afterAll(async () => {
  if (w) w.expectNoLeaks();
  await w?.close();
});

interface Linked {
  userId: string;
  provider: Provider;
  id: string;
}

/** A user connected to `provider` through the connect flow, as a browser would. */
async function link(provider: Provider): Promise<Linked> {
  const userId = await w.createUser();
  const session = await w.createSession(userId, { provider });
  const visits = await w.run(w.browser(), session.url);
  const outcome = w.returned(visits[visits.length - 1]);
  expect(outcome.status, JSON.stringify(outcome)).toBe('connected');
  return { userId, provider, id: outcome.connection_id! };
}

/** Disconnects: the fake's one account per provider is free for the next test's user. */
const release = (c: Linked) => w.release(c.userId, c.provider);

interface Stored {
  access: string | null;
  refresh: string | null;
  expiresAt: Date | null;
  status: string;
  reason: string | null;
  version: number;
  retryAt: Date | null;
  failures: number;
  leased: boolean;
}

/** The connection's row, its tokens opened. */
async function stored(c: Linked): Promise<Stored> {
  const [row] = await w.t.query<{
    access_token: string | null;
    refresh_token: string | null;
    token_expires_at: Date | null;
    status: string;
    status_reason: string | null;
    token_version: number;
    refresh_retry_at: Date | null;
    refresh_failures: number;
    refresh_lease_until: Date | null;
  }>('SELECT * FROM connections WHERE id = $1', [c.id]);
  const open = (value: string | null, field: 'access_token' | 'refresh_token') =>
    value === null ? null : cipher.decrypt(value, tokenContext(c.userId, c.provider, field));
  return {
    access: open(row.access_token, 'access_token'),
    refresh: open(row.refresh_token, 'refresh_token'),
    expiresAt: row.token_expires_at && new Date(row.token_expires_at),
    status: row.status,
    reason: row.status_reason,
    version: row.token_version,
    retryAt: row.refresh_retry_at && new Date(row.refresh_retry_at),
    failures: row.refresh_failures,
    leased: row.refresh_lease_until !== null && new Date(row.refresh_lease_until).getTime() > Date.now(),
  };
}

/** Makes the connection's access token lapse in a minute: due for the refresher (REFRESH_AHEAD_SECONDS 600). */
async function makeDue(c: Linked): Promise<void> {
  await w.t.query(`UPDATE connections SET token_expires_at = now() + interval '1 minute' WHERE id = $1`, [c.id]);
}

/** The refresh-grant requests the fake received from this provider. */
function refreshCalls(provider: Provider): number {
  return w.fake.callsTo(provider, 'token').filter((call) => call.form.get('grant_type') === 'refresh_token').length;
}

function refreshNow(c: Linked, server = w.t.server) {
  return request(server).post(`/api/v1/users/${c.userId}/connections/${c.provider}/refresh`).set('X-API-Key', ADMIN_KEY);
}

async function attempts(c: Linked) {
  const res = await w.api('get', `/api/v1/users/${c.userId}/connections/${c.provider}/refresh-attempts`);
  expect(res.status, res.text).toBe(200);
  return res.body as { attempted_at: string; outcome: string; error: string | null; detail: string | null; retry_at: string | null }[];
}

/** A refresh of `refresh` sent to the fake directly, as another instance of the service would (Whoop's or Strava's dialect). */
async function rotateAtFake(provider: 'whoop' | 'strava', refresh: string): Promise<{ access: string; refresh: string }> {
  const path = provider === 'whoop' ? '/oauth/oauth2/token' : '/oauth/token';
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: CLIENTS[provider].clientId, client_secret: CLIENTS[provider].clientSecret });
  if (provider === 'whoop') form.set('scope', 'offline');
  const res = await fetch(`${w.fake.baseUrl}${path}`, { method: 'POST', body: form });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  return { access: body.access_token, refresh: body.refresh_token };
}

/** Resolves once the fake has received `count` refresh requests from the provider. */
async function untilRefreshCalls(provider: Provider, count: number): Promise<void> {
  while (refreshCalls(provider) < count) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('the background refresher', () => {
  it('refreshes every due connection of a provider with a refresh grant once, rotated tokens stored sealed; never Polar or Coros', async () => {
    const linked = [];
    for (const provider of PROVIDERS) linked.push(await link(provider));
    const before = new Map<Provider, Stored>();
    for (const c of linked) {
      await makeDue(c);
      before.set(c.provider, await stored(c));
    }
    const callsBefore = new Map(PROVIDERS.map((provider) => [provider, refreshCalls(provider)]));

    const claimed = await w.t.app.get(RefreshService).refreshDue();
    expect(claimed).toBe(REFRESHABLE.length);
    // Nothing is due any more.
    expect(await w.t.app.get(RefreshService).refreshDue()).toBe(0);

    for (const c of linked) {
      const was = before.get(c.provider)!;
      const now = await stored(c);
      const calls = refreshCalls(c.provider) - callsBefore.get(c.provider)!;
      if (!REFRESHABLE.includes(c.provider)) {
        expect(calls, `${c.provider} is never refreshed`).toBe(0);
        expect(now.access).toBe(was.access);
        expect((await refreshNow(c)).status, `${c.provider} has no refresh grant`).toBe(409);
        continue;
      }
      expect(calls, `${c.provider} is refreshed once`).toBe(1);
      expect(now.status).toBe('active');
      expect(now.access, c.provider).not.toBe(was.access);
      expect(w.fake.isActive(now.access!), `${c.provider}'s new access token is one the fake issued`).toBe(true);
      expect(w.fake.isActive(now.refresh!), `${c.provider}'s stored refresh token works`).toBe(true);
      if (ROTATING.includes(c.provider)) {
        // The rotated refresh token was stored with the new access token; the old one no longer works.
        expect(now.refresh, c.provider).not.toBe(was.refresh);
        expect(w.fake.isActive(was.refresh!)).toBe(false);
      } else {
        expect(now.refresh).toBe(was.refresh);
      }
      const lifetime = (now.expiresAt!.getTime() - Date.now()) / 1000;
      expect(lifetime, c.provider).toBeGreaterThan(FAKE_EXPIRES_IN[c.provider] - 60);
      expect(lifetime, c.provider).toBeLessThanOrEqual(FAKE_EXPIRES_IN[c.provider] + 1);
      expect(now.leased || now.retryAt !== null || now.failures !== 0).toBe(false);
      const [last] = await attempts(c);
      expect(last).toMatchObject({ outcome: 'refreshed', error: null, retry_at: null });
    }
    await w.expectSealed();
    // The spec's list still says active, and nothing in it moved but the tokens' expiry.
    for (const c of linked) expect((await w.connectionsOf(c.userId))[0].status).toBe('active');
    for (const c of linked) await release(c);
  });

  it('leaves a connection as it is on a 503, a 429 or a timeout, and retries on the schedule, honouring a longer Retry-After', async () => {
    const c = await link('whoop');
    await makeDue(c);
    const was = await stored(c);
    const refresher = w.t.app.get(RefreshService);

    // 503 with Retry-After: 120 (longer than the schedule's first 60 s).
    w.fake.failNext('whoop', 'token', { status: 503, retryAfter: '120' });
    expect(await refresher.refreshDue()).toBe(1);
    let now = await stored(c);
    expect({ status: now.status, access: now.access, refresh: now.refresh, failures: now.failures, leased: now.leased }).toEqual({
      status: 'active',
      access: was.access,
      refresh: was.refresh,
      failures: 1,
      leased: false,
    });
    const wait = (now.retryAt!.getTime() - Date.now()) / 1000;
    expect(wait).toBeGreaterThan(110);
    expect(wait).toBeLessThanOrEqual(121);
    expect(w.fake.isActive(was.refresh!)).toBe(true);
    // Not due again before its retry time.
    expect(await refresher.refreshDue()).toBe(0);
    expect((await attempts(c))[0]).toMatchObject({ outcome: 'transient', error: 'provider_unavailable' });

    // Its time comes: a 429 without Retry-After waits the schedule's second delay (300 s).
    await w.t.query('UPDATE connections SET refresh_retry_at = now() WHERE id = $1', [c.id]);
    w.fake.failNext('whoop', 'token', { status: 429 });
    expect(await refresher.refreshDue()).toBe(1);
    now = await stored(c);
    expect(now.failures).toBe(2);
    expect((now.retryAt!.getTime() - Date.now()) / 1000).toBeGreaterThan(290);
    expect(now.access).toBe(was.access);

    // A provider that does not answer within PROVIDER_TIMEOUT_MS: the third delay (900 s).
    await w.t.query('UPDATE connections SET refresh_retry_at = now() WHERE id = $1', [c.id]);
    w.fake.failNext('whoop', 'token', { delayMs: PROVIDER_TIMEOUT_MS * 2 });
    expect(await refresher.refreshDue()).toBe(1);
    now = await stored(c);
    expect(now.failures).toBe(3);
    expect((now.retryAt!.getTime() - Date.now()) / 1000).toBeGreaterThan(890);
    expect(now.status).toBe('active');

    // Then it answers: refreshed, the failures forgotten.
    await w.t.query('UPDATE connections SET refresh_retry_at = now() WHERE id = $1', [c.id]);
    expect(await refresher.refreshDue()).toBe(1);
    now = await stored(c);
    expect(now.access).not.toBe(was.access);
    expect({ failures: now.failures, retryAt: now.retryAt, status: now.status }).toEqual({ failures: 0, retryAt: null, status: 'active' });
    expect((await attempts(c)).map((a) => a.outcome)).toEqual(['refreshed', 'transient', 'transient', 'transient']);
    await release(c);
  });
});

describe('POST /api/v1/users/{user_id}/connections/{provider}/refresh', () => {
  it('makes a connection whose refresh token the provider rejects expired (refresh_failed), tokens erased, after one retry', async () => {
    const c = await link('strava');
    const expired: ConnectionEvent[] = [];
    const listener = (event: ConnectionEvent) => expired.push(event);
    w.t.app.get(EventEmitter2).on(CONNECTION_EVENTS.expired, listener);
    const was = await stored(c);
    // The grant ends at the provider (here: its refresh token rotated away by someone else, and lost).
    await rotateAtFake('strava', was.refresh!);
    const calls = refreshCalls('strava');

    const res = await refreshNow(c);
    expect(res.status, res.text).toBe(200);
    expect(res.body.outcome).toBe('expired');
    expect(res.body.connection).toMatchObject({ id: c.id, provider: 'strava', status: 'expired' });
    // Tried twice with the stored refresh token (re-read in between), then given up.
    expect(refreshCalls('strava') - calls).toBe(2);
    const now = await stored(c);
    expect({ status: now.status, reason: now.reason, access: now.access, refresh: now.refresh }).toEqual({
      status: 'expired',
      reason: 'refresh_failed',
      access: null,
      refresh: null,
    });
    expect(expired.map((event) => [event.connection_id, event.reason])).toEqual([[c.id, 'refresh_failed']]);
    w.t.app.get(EventEmitter2).off(CONNECTION_EVENTS.expired, listener);
    const [last] = await attempts(c);
    expect(last).toMatchObject({ outcome: 'rejected', error: 'refresh_rejected' });
    expect((await w.connectionsOf(c.userId))[0].status).toBe('expired');
    // revoked stays the user's own act: the connection can be linked again.
    expect((await refreshNow(c)).body.outcome).toBe('expired');
    await release(c);
  });

  it('keeps a connection whose refresh token a racing instance rotated while this one asked: it takes the racing tokens', async () => {
    const c = await link('whoop');
    const was = await stored(c);
    const calls = refreshCalls('whoop');
    // This instance's refresh is held at the provider while another instance (the test) rotates the
    // same refresh token and stores the result, as the other instance's storing statement would.
    // Under PROVIDER_TIMEOUT_MS (1 s here), and long enough for the racing rotation below even on a busy machine.
    w.fake.failNext('whoop', 'token', { delayMs: 800 });
    const pending = refreshNow(c).then((res) => res);
    await untilRefreshCalls('whoop', calls + 1);
    const racing = await rotateAtFake('whoop', was.refresh!);
    await w.t.query(
      `UPDATE connections SET access_token = $2, refresh_token = $3, token_version = token_version + 1, refresh_lease_until = NULL WHERE id = $1`,
      [c.id, cipher.encrypt(racing.access, tokenContext(c.userId, 'whoop', 'access_token')), cipher.encrypt(racing.refresh, tokenContext(c.userId, 'whoop', 'refresh_token'))],
    );

    const res = await pending;
    expect(res.status, res.text).toBe(200);
    // The provider rejected the old refresh token; the re-read found the racing instance's.
    expect(res.body.outcome).toBe('already_refreshed');
    expect(res.body.connection.status).toBe('active');
    const now = await stored(c);
    expect(now.status).toBe('active');
    expect(now.refresh).toBe(racing.refresh);
    expect(w.fake.isActive(now.refresh!)).toBe(true);
    await release(c);
  });

  it('refreshes once for five racing callers in one process: one refreshed, four already_refreshed, one token for all', async () => {
    const c = await link('oura');
    const calls = refreshCalls('oura');
    w.fake.failNext('oura', 'token', { delayMs: 200 });
    const answers = await Promise.all(Array.from({ length: 5 }, () => refreshNow(c)));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.map((res) => res.body.outcome).sort()).toEqual(['already_refreshed', 'already_refreshed', 'already_refreshed', 'already_refreshed', 'refreshed']);
    expect(refreshCalls('oura') - calls).toBe(1);
    expect(w.fake.isActive((await stored(c)).refresh!)).toBe(true);
    await release(c);
  });

  it('holds no database connection while the provider is slow: the spec’s list answers meanwhile (one pooled connection on the embedded database)', async () => {
    const c = await link('fitbit');
    const calls = refreshCalls('fitbit');
    w.fake.failNext('fitbit', 'token', { delayMs: 700 });
    let refreshed = false;
    const pending = refreshNow(c).then((res) => {
      refreshed = true;
      return res;
    });
    await untilRefreshCalls('fitbit', calls + 1);
    for (let i = 0; i < 5; i++) {
      const list = await w.api('get', `/api/v1/users/${c.userId}/connections`);
      expect(list.status).toBe(200);
      expect(refreshed, 'the list waited for the provider').toBe(false);
    }
    expect((await pending).body.outcome).toBe('refreshed');
    await release(c);
  });

  it('answers 503 when the provider does not answer, and 404 for a connection that is not there', async () => {
    const c = await link('suunto');
    w.fake.failNext('suunto', 'token', { status: 502 });
    const res = await refreshNow(c);
    expect(res.status).toBe(503);
    expect(res.body.detail).toContain('suunto');
    expect((await stored(c)).status).toBe('active');
    await release(c);
    expect((await refreshNow(c)).status).toBe(409);
    const stranger = { userId: await w.createUser(), provider: 'oura' as Provider, id: '' };
    expect((await refreshNow(stranger)).body).toEqual({ detail: 'Connection not found' });
  });
});

describe.runIf(ON_POSTGRESQL)('two instances on one PostgreSQL', () => {
  it('share the due connections without refreshing one twice, and racing refreshNow calls refresh once', async () => {
    const second = await w.secondInstance();
    try {
      const linked = [];
      for (const provider of REFRESHABLE) linked.push(await link(provider));
      for (const c of linked) await makeDue(c);
      const callsBefore = new Map(REFRESHABLE.map((provider) => [provider, refreshCalls(provider)]));
      for (const provider of REFRESHABLE) w.fake.failNext(provider, 'token', { delayMs: 100 });

      const [a, b] = await Promise.all([w.t.app.get(RefreshService).refreshDue(), second.app.get(RefreshService).refreshDue()]);
      expect(a + b).toBe(REFRESHABLE.length);
      for (const c of linked) {
        expect(refreshCalls(c.provider) - callsBefore.get(c.provider)!, c.provider).toBe(1);
        const now = await stored(c);
        expect(now.status).toBe('active');
        expect(w.fake.isActive(now.refresh!), c.provider).toBe(true);
      }

      const whoop = linked.find((c) => c.provider === 'whoop')!;
      const calls = refreshCalls('whoop');
      w.fake.failNext('whoop', 'token', { delayMs: 300 });
      const answers = await Promise.all([refreshNow(whoop), refreshNow(whoop, second.server), refreshNow(whoop), refreshNow(whoop, second.server)]);
      expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200]);
      expect(answers.filter((res) => res.body.outcome === 'refreshed')).toHaveLength(1);
      expect(refreshCalls('whoop') - calls).toBe(1);
      expect(w.fake.isActive((await stored(whoop)).refresh!)).toBe(true);
      for (const c of linked) await release(c);
    } finally {
      await second.close();
    }
  });
});
