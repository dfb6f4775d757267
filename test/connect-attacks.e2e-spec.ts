/**
 * The connect flow under attack, through the real HTTP stack and the fake providers: each attempt is
 * refused with its error code, nothing is connected, and no secret shows in any response, redirect,
 * page or log line. On the embedded database, or on PostgreSQL with DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConnectRepository } from '../src/connect/connect.repository.js';
import { ConnectionsService } from '../src/connections/connections.service.js';
import type { Provider } from '../src/connections/providers.js';
import { type ConnectWorld, startConnectWorld } from './support/connect-world.js';
import { FAKE_ACCOUNTS } from './support/fake-providers.js';

const RETURN_URL = 'https://app.example.com/wearables/done';
/** What this service's flow refuses: coros is left unconfigured. */
const CONFIGURED: Provider[] = ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings'];
const PROVIDER_TIMEOUT_MS = 1_000;
const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

let w: ConnectWorld;

beforeAll(async () => {
  w = await startConnectWorld({
    providers: CONFIGURED,
    providerTimeoutMs: PROVIDER_TIMEOUT_MS,
    connect: { returnUrls: ['https://app.example.com/wearables'] },
    returnUrl: RETURN_URL,
  });
});

afterAll(async () => {
  if (w) w.expectNoLeaks();
  await w?.close();
});

/** The user has no connection, and none was announced for it. */
async function expectNothingStored(world: ConnectWorld, userId: string): Promise<void> {
  expect(await world.connectionsOf(userId)).toEqual([]);
  expect(world.created.filter((event) => event.user_id === userId)).toEqual([]);
}

async function session(world: ConnectWorld, id: string) {
  return (await world.api('get', `/api/v1/connect-sessions/${id}`)).body;
}

describe('callbacks that must not connect', () => {
  it('a replayed callback, cookie and all, is refused (invalid_state): the first connected, the replay changes nothing', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'strava' });
    const browser = w.browser();
    const callback = await w.untilCallback(browser, created.url);
    const cookie = `wc_connect_strava=${browser.cookie('wc_connect_strava')!.value}`;
    const first = w.returned(await browser.get(callback));
    expect(first.status).toBe('connected');
    const [before] = await w.connectionsOf(userId);
    const exchanges = w.fake.callsTo('strava', 'token').length;
    const events = w.created.length;

    const replay = await browser.get(callback, cookie);
    expect(w.returned(replay)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'strava', error: 'invalid_state' });
    expect(replay.setCookies).toEqual([]);
    expect(w.fake.callsTo('strava', 'token')).toHaveLength(exchanges);
    expect(w.created).toHaveLength(events);
    expect(await w.connectionsOf(userId)).toEqual([before]);
    expect(await session(w, created.id)).toMatchObject({ status: 'completed', connection_id: first.connection_id, error: null });
    await w.release(userId, 'strava');
  });

  it('a second callback for a used session is refused (session_used), even for another provider, and is not exchanged', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { providers: ['oura', 'whoop'] });
    const browser = w.browser();
    const ouraCallback = await w.untilCallback(browser, `${created.url}/oura`);
    const whoopCallback = await w.untilCallback(browser, `${created.url}/whoop`);
    expect(w.returned(await browser.get(whoopCallback)).status).toBe('connected');
    const exchanges = w.fake.callsTo('oura', 'token').length;

    const second = await browser.get(ouraCallback);
    expect(w.returned(second)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'oura', error: 'session_used' });
    expect(w.fake.callsTo('oura', 'token')).toHaveLength(exchanges);
    expect((await w.connectionsOf(userId)).map((connection) => connection.provider)).toEqual(['whoop']);
    expect(await session(w, created.id)).toMatchObject({ status: 'completed', provider: 'whoop' });
    // The link is used up: it starts nothing more.
    expect((await browser.get(`${created.url}/oura`)).status).toBe(410);
    await w.release(userId, 'whoop');
  });

  it('a callback without the flow cookie is refused (cookie_mismatch): the code is never exchanged, the session fails', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'polar' });
    const callback = await w.untilCallback(w.browser(), created.url);
    const exchanges = w.fake.callsTo('polar', 'token').length;

    const stranger = await w.browser().get(callback);
    expect(w.returned(stranger)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'polar', error: 'cookie_mismatch' });
    expect(w.fake.callsTo('polar', 'token')).toHaveLength(exchanges);
    await expectNothingStored(w, userId);
    expect(await session(w, created.id)).toMatchObject({ status: 'failed', provider: 'polar', error: 'cookie_mismatch', connection_id: null });
    const attempts = await w.t.query<{ status: string; error: string }>('SELECT status, error FROM connect_attempts WHERE session_id = $1', [created.id]);
    expect(attempts).toEqual([{ status: 'failed', error: 'cookie_mismatch' }]);
  });

  it('a callback brought by a browser with another flow’s cookie is refused (cookie_mismatch), and that browser’s own flow still finishes', async () => {
    const [alice, mallory] = [await w.createUser(), await w.createUser()];
    const aliceSession = await w.createSession(alice, { provider: 'oura' });
    const mallorySession = await w.createSession(mallory, { provider: 'oura' });
    const aliceBrowser = w.browser();
    const malloryBrowser = w.browser();
    const aliceCallback = await w.untilCallback(aliceBrowser, aliceSession.url);
    const malloryCallback = await w.untilCallback(malloryBrowser, mallorySession.url);

    // Alice's callback (her code, her state) in Mallory's browser, which holds a flow cookie of its own.
    const crossed = await malloryBrowser.get(aliceCallback);
    expect(crossed.sentCookies).toMatch(/^wc_connect_oura=/);
    expect(w.returned(crossed)).toMatchObject({ connect_session_id: aliceSession.id, status: 'error', error: 'cookie_mismatch' });
    expect(crossed.setCookies).toEqual([]);
    await expectNothingStored(w, alice);
    await expectNothingStored(w, mallory);
    // Alice's session is spent (it fails closed); Mallory's own flow, in her browser, is unaffected.
    expect(w.returned(await aliceBrowser.get(aliceCallback))).toMatchObject({ status: 'error', error: 'invalid_state' });
    expect(w.returned(await malloryBrowser.get(malloryCallback))).toMatchObject({ connect_session_id: mallorySession.id, status: 'connected' });
    expect((await w.connectionsOf(mallory)).map((connection) => connection.provider)).toEqual(['oura']);
    await expectNothingStored(w, alice);
    await w.release(mallory, 'oura');
  });

  it('a state presented at another provider’s callback is refused (invalid_state), and nothing is exchanged there', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { providers: ['strava', 'suunto'] });
    const browser = w.browser();
    const stravaCallback = new URL(await w.untilCallback(browser, `${created.url}/strava`));
    const exchanges = w.fake.calls.filter((call) => call.endpoint === 'token').length;
    const mixedUp = await browser.get(`${w.publicUrl}/oauth/suunto/callback${stravaCallback.search}`);
    expect(w.returned(mixedUp)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'strava', error: 'invalid_state' });
    expect(w.fake.calls.filter((call) => call.endpoint === 'token')).toHaveLength(exchanges);
    await expectNothingStored(w, userId);
    expect(await session(w, created.id)).toMatchObject({ status: 'failed', error: 'invalid_state' });
  });

  it('a code the provider rejects is refused (exchange_failed), as is an answer without a token', async () => {
    for (const fault of [{ refuse: true as const }, { malformed: true as const }]) {
      const userId = await w.createUser();
      const created = await w.createSession(userId, { provider: 'withings' });
      w.fake.failNext('withings', 'token', fault);
      const visits = await w.run(w.browser(), created.url);
      expect(w.returned(visits.at(-1)!)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'withings', error: 'exchange_failed' });
      await expectNothingStored(w, userId);
      expect(await session(w, created.id)).toMatchObject({ status: 'failed', error: 'exchange_failed' });
    }
  });

  it('a provider that does not answer in time, or fails, is refused (provider_unavailable) within PROVIDER_TIMEOUT_MS', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'whoop' });
    const browser = w.browser();
    const callback = await w.untilCallback(browser, created.url);
    w.fake.failNext('whoop', 'token', { delayMs: PROVIDER_TIMEOUT_MS * 3 });
    const started = Date.now();
    const slow = await browser.get(callback);
    expect(Date.now() - started).toBeLessThan(PROVIDER_TIMEOUT_MS * 2.5);
    expect(w.returned(slow)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'whoop', error: 'provider_unavailable' });
    await expectNothingStored(w, userId);

    const other = await w.createUser();
    w.fake.failNext('garmin', 'api', { status: 503 });
    const failing = await w.run(w.browser(), (await w.createSession(other, { provider: 'garmin' })).url);
    expect(w.returned(failing.at(-1)!)).toMatchObject({ status: 'error', error: 'provider_unavailable' });
    await expectNothingStored(w, other);
  });

  it('a user who refuses at the provider comes back with access_denied; one who grants nothing, with scope_denied', async () => {
    const refusing = await w.createUser();
    w.fake.failNext('fitbit', 'authorize', { refuse: true });
    const refused = await w.run(w.browser(), (await w.createSession(refusing, { provider: 'fitbit' })).url);
    expect(w.returned(refused.at(-1)!)).toMatchObject({ status: 'error', provider: 'fitbit', error: 'access_denied' });
    await expectNothingStored(w, refusing);

    const stingy = await w.createUser();
    w.fake.grantNext('garmin', []);
    const denied = await w.run(w.browser(), (await w.createSession(stingy, { provider: 'garmin' })).url);
    expect(w.returned(denied.at(-1)!)).toMatchObject({ status: 'error', provider: 'garmin', error: 'scope_denied' });
    await expectNothingStored(w, stingy);
  });

  it('a provider account already active for another user is refused (account_in_use); once disconnected there, it may connect', async () => {
    const [owner, other] = [await w.createUser(), await w.createUser()];
    expect(w.returned((await w.run(w.browser(), (await w.createSession(owner, { provider: 'suunto' })).url)).at(-1)!).status).toBe('connected');
    const [owned] = await w.connectionsOf(owner);

    const created = await w.createSession(other, { provider: 'suunto' });
    const taken = await w.run(w.browser(), created.url);
    expect(w.returned(taken.at(-1)!)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'suunto', error: 'account_in_use' });
    await expectNothingStored(w, other);
    expect(await w.connectionsOf(owner)).toEqual([owned]);

    await w.release(owner, 'suunto');
    const freed = await w.run(w.browser(), (await w.createSession(other, { provider: 'suunto' })).url);
    expect(w.returned(freed.at(-1)!).status).toBe('connected');
    await w.release(other, 'suunto');
  });

  it.skipIf(!ON_POSTGRESQL)(
    'callbacks of six users racing for one provider account: exactly one connects, the others get account_in_use (PostgreSQL only: the embedded database runs one statement at a time, so nothing races on it)',
    async () => {
      for (let round = 0; round < 3; round++) {
        const flows: { userId: string; id: string; browser: ReturnType<ConnectWorld['browser']>; callback: string }[] = [];
        for (let i = 0; i < 6; i++) {
          const userId = await w.createUser();
          const created = await w.createSession(userId, { provider: 'oura' });
          const browser = w.browser();
          flows.push({ userId, id: created.id, browser, callback: await w.untilCallback(browser, created.url) });
        }
        const outcomes = (await Promise.all(flows.map((flow) => flow.browser.get(flow.callback)))).map((visit) => w.returned(visit));
        expect(outcomes.filter((outcome) => outcome.status === 'connected'), JSON.stringify(outcomes)).toHaveLength(1);
        expect(outcomes.filter((outcome) => outcome.error === 'account_in_use')).toHaveLength(5);
        const holders = await w.t.query<{ user_id: string }>(
          `SELECT user_id FROM connections WHERE provider = 'oura' AND provider_user_id = $1 AND status <> 'revoked'`,
          [FAKE_ACCOUNTS.oura.id],
        );
        const winner = flows[outcomes.findIndex((outcome) => outcome.status === 'connected')];
        expect(holders).toEqual([{ user_id: winner.userId }]);
        for (const [i, flow] of flows.entries()) {
          expect(await session(w, flow.id)).toMatchObject(outcomes[i].status === 'connected' ? { status: 'completed' } : { status: 'failed', error: 'account_in_use' });
        }
        await w.release(winner.userId, 'oura');
      }
    },
  );

  it('a provider account whose connection for another user has expired is still that user’s (account_in_use: a refresh could bring it back); once revoked, it is free', async () => {
    const [owner, other] = [await w.createUser(), await w.createUser()];
    expect(w.returned((await w.run(w.browser(), (await w.createSession(owner, { provider: 'withings' })).url)).at(-1)!).status).toBe('connected');
    const [owned] = await w.connectionsOf(owner);
    await w.t.app.get(ConnectionsService).markExpired(owned.id, 'token_lapsed');

    const created = await w.createSession(other, { provider: 'withings' });
    expect(w.returned((await w.run(w.browser(), created.url)).at(-1)!)).toEqual({
      connect_session_id: created.id,
      status: 'error',
      provider: 'withings',
      error: 'account_in_use',
    });
    await expectNothingStored(w, other);
    expect(await w.connectionsOf(owner)).toEqual([expect.objectContaining({ id: owned.id, status: 'expired' })]);

    await w.release(owner, 'withings');
    expect(w.returned((await w.run(w.browser(), (await w.createSession(other, { provider: 'withings' })).url)).at(-1)!).status).toBe('connected');
    await w.release(other, 'withings');
  });

  it('a consent that grants too little (scope_denied) drops its tokens and revokes nothing at the provider: the account’s connection for another user keeps working', async () => {
    const [owner, other] = [await w.createUser(), await w.createUser()];
    expect(w.returned((await w.run(w.browser(), (await w.createSession(owner, { provider: 'whoop' })).url)).at(-1)!).status).toBe('connected');
    const [owned] = await w.connectionsOf(owner);
    const token = await w.t.app.get(ConnectionsService).getAccessToken(owned.id);
    const deregistrations = w.fake.callsTo('whoop', 'deregister').length;

    w.fake.grantNext('whoop', ['read:profile', 'read:sleep']);
    const created = await w.createSession(other, { provider: 'whoop' });
    expect(w.returned((await w.run(w.browser(), created.url)).at(-1)!)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'whoop', error: 'scope_denied' });
    await expectNothingStored(w, other);
    expect(w.fake.callsTo('whoop', 'deregister')).toHaveLength(deregistrations);
    expect(w.fake.isActive(token)).toBe(true);
    expect(await w.connectionsOf(owner)).toEqual([expect.objectContaining({ id: owned.id, status: 'active' })]);
    await w.expectSealed();
    await w.release(owner, 'whoop');
  });

  it('a Polar account in use for another user is refused (account_in_use) before the user is registered at Polar', async () => {
    const [owner, other] = [await w.createUser(), await w.createUser()];
    expect(w.returned((await w.run(w.browser(), (await w.createSession(owner, { provider: 'polar' })).url)).at(-1)!).status).toBe('connected');
    const registrations = () => w.fake.callsTo('polar', 'api').filter((call) => call.method === 'POST' && call.path === '/v3/users');
    expect(registrations().map((call) => call.json)).toContainEqual({ 'member-id': owner });

    const created = await w.createSession(other, { provider: 'polar' });
    expect(w.returned((await w.run(w.browser(), created.url)).at(-1)!)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'polar', error: 'account_in_use' });
    expect(registrations().map((call) => call.json)).not.toContainEqual({ 'member-id': other });
    await expectNothingStored(w, other);

    // Once the account is free, the flow registers the new user as it connects it.
    await w.release(owner, 'polar');
    expect(w.returned((await w.run(w.browser(), (await w.createSession(other, { provider: 'polar' })).url)).at(-1)!).status).toBe('connected');
    expect(registrations().map((call) => call.json)).toContainEqual({ 'member-id': other });
    await w.release(other, 'polar');
  });

  it('a fault after the callback claimed its session ends it as failed (internal_error) and sends the browser back to the return_url', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'oura' });
    const browser = w.browser();
    const callback = await w.untilCallback(browser, created.url);
    const link = vi.spyOn(w.t.app.get(ConnectionsService), 'linkExclusive').mockRejectedValueOnce(new TypeError('a fault'));
    try {
      const visit = await browser.get(callback);
      expect(w.returned(visit)).toEqual({ connect_session_id: created.id, status: 'error', provider: 'oura', error: 'internal_error' });
      expect(visit.setCookies).toEqual(['wc_connect_oura=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Lax']);
      expect(link).toHaveBeenCalledTimes(1);
    } finally {
      link.mockRestore();
    }
    await expectNothingStored(w, userId);
    expect(await session(w, created.id)).toMatchObject({ status: 'failed', provider: 'oura', error: 'internal_error', connection_id: null });
    const attempts = await w.t.query<{ status: string; error: string }>('SELECT status, error FROM connect_attempts WHERE session_id = $1', [created.id]);
    expect(attempts).toEqual([{ status: 'failed', error: 'internal_error' }]);
    expect(w.t.logs.some((line) => line.includes(`Connect session ${created.id}: the oura callback failed (TypeError)`))).toBe(true);
  });

  it('a database outage after the callback claimed its session answers the 503 page (Retry-After), not JSON', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'oura' });
    const browser = w.browser();
    const callback = await w.untilCallback(browser, created.url);
    // What pg throws when the server goes away mid-flow: the link fails, and so does storing the outcome.
    const outage = () => Object.assign(new Error('Connection terminated unexpectedly'), {});
    const link = vi.spyOn(w.t.app.get(ConnectionsService), 'linkExclusive').mockRejectedValueOnce(outage());
    const finish = vi.spyOn(w.t.app.get(ConnectRepository), 'finish').mockRejectedValueOnce(outage());
    try {
      const visit = await browser.get(callback);
      expect(visit.status).toBe(503);
      expect(visit.location).toBeUndefined();
      expect(visit.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(visit.headers.get('retry-after')).toBe('1');
      expect(visit.body).toContain('This sign-in could not be completed');
      expect(visit.setCookies).toEqual(['wc_connect_oura=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Lax']);
      expect(finish).toHaveBeenCalledTimes(1);
    } finally {
      link.mockRestore();
      finish.mockRestore();
    }
    await expectNothingStored(w, userId);
  });

  it('a session of user A completed in user B’s browser links to A, the session’s user, never to B', async () => {
    const [a, b] = [await w.createUser(), await w.createUser()];
    const bBrowser = w.browser();
    // B's browser has a history with the service: B connected a provider in it.
    expect(w.returned((await w.run(bBrowser, (await w.createSession(b, { provider: 'polar' })).url)).at(-1)!).status).toBe('connected');

    const aSession = await w.createSession(a, { provider: 'garmin' });
    const result = w.returned((await w.run(bBrowser, aSession.url)).at(-1)!);
    expect(result).toMatchObject({ connect_session_id: aSession.id, status: 'connected', provider: 'garmin' });
    expect((await w.connectionsOf(a)).map((connection) => [connection.id, connection.provider])).toEqual([[result.connection_id, 'garmin']]);
    expect((await w.connectionsOf(b)).map((connection) => connection.provider)).toEqual(['polar']);
    expect(w.created).toContainEqual({ connection_id: result.connection_id, user_id: a, provider: 'garmin', reason: 'linked' });
    expect(await session(w, aSession.id)).toMatchObject({ user_id: a, status: 'completed', connection_id: result.connection_id });
    await w.release(a, 'garmin');
    await w.release(b, 'polar');
  });

  it('a callback whose state was never issued, or is malformed or missing, gets the error page, not a redirect', async () => {
    const browser = w.browser();
    for (const query of [`?code=x&state=${randomBytes(32).toString('base64url')}`, '?code=x&state=short', '?code=x', '?error=access_denied', '']) {
      const visit = await browser.get(`${w.publicUrl}/oauth/strava/callback${query}`);
      expect(visit.status, query).toBe(400);
      expect(visit.location).toBeUndefined();
      expect(visit.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(visit.body).toContain('This sign-in cannot be completed');
    }
    expect((await browser.get(`${w.publicUrl}/oauth/nope/callback?state=${randomBytes(32).toString('base64url')}`)).status).toBe(400);
    // Two states: neither is trusted.
    const state = randomBytes(32).toString('base64url');
    expect((await browser.get(`${w.publicUrl}/oauth/strava/callback?state=${state}&state=${state}`)).status).toBe(400);
  });
});

describe('links that must not start a flow', () => {
  it('an unknown link, a malformed or overlong token: a 404 page with the service’s page headers, never a redirect', async () => {
    const browser = w.browser();
    for (const token of [randomBytes(32).toString('base64url'), 'short', 'x'.repeat(101), 'x'.repeat(2000), '%3Cscript%3E']) {
      for (const path of [`/connect/${token}`, `/connect/${token}/strava`]) {
        const visit = await browser.get(`${w.publicUrl}${path}`);
        expect(visit.status, path).toBe(404);
        expect(visit.location).toBeUndefined();
        expect(visit.setCookies).toEqual([]);
        expect(visit.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(visit.headers.get('content-security-policy')).toContain("default-src 'none'");
        expect(visit.headers.get('cache-control')).toBe('no-store');
        expect(visit.headers.get('referrer-policy')).toBe('no-referrer');
        expect(visit.body).toContain('This link is not valid');
        expect(visit.body).not.toContain('<script>');
      }
    }
  });

  it('a provider the session does not offer, or an unknown one, is a 404 page; a link that started too many flows, a 429 page', async () => {
    const userId = await w.createUser();
    const created = await w.createSession(userId, { provider: 'strava' });
    const browser = w.browser();
    expect((await browser.get(`${created.url}/oura`)).status).toBe(404);
    expect((await browser.get(`${created.url}/myspace`)).status).toBe(404);
    for (let i = 0; i < 20; i++) expect((await browser.get(`${created.url}/strava`)).status).toBe(302);
    const exhausted = await browser.get(`${created.url}/strava`);
    expect(exhausted.status).toBe(429);
    expect(exhausted.setCookies).toEqual([]);
    const attempts = await w.t.query<{ n: number }>('SELECT count(*)::int AS n FROM connect_attempts a JOIN connect_sessions s ON s.id = a.session_id WHERE s.id = $1', [created.id]);
    expect(attempts[0].n).toBe(20);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'a link started 80 times at once starts exactly 20 flows, and answers the rest with the 429 page (PostgreSQL only: the embedded database runs one statement at a time, so nothing races on it)',
    async () => {
      const created = await w.createSession(await w.createUser(), { provider: 'strava' });
      const browser = w.browser();
      const visits = await Promise.all(Array.from({ length: 80 }, () => browser.get(`${created.url}/strava`)));
      expect(visits.filter((visit) => visit.status === 302)).toHaveLength(20);
      expect(visits.filter((visit) => visit.status === 429)).toHaveLength(60);
      const attempts = await w.t.query<{ n: number }>('SELECT count(*)::int AS n FROM connect_attempts WHERE session_id = $1', [created.id]);
      expect(attempts[0].n).toBe(20);
    },
  );

  it('a path under a link that no route serves answers 404 without the token', async () => {
    const created = await w.createSession(await w.createUser(), { provider: 'strava' });
    const res = await w.api('get', `/connect/${created.token}/strava/extra`);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(created.token);
  });
});

describe('sessions that must not be created', () => {
  it('a return_url outside CONNECT_RETURN_URLS is refused (400 naming the variable), and no session is stored', async () => {
    const userId = await w.createUser();
    const count = async () => (await w.t.query<{ n: number }>('SELECT count(*)::int AS n FROM connect_sessions'))[0].n;
    const before = await count();
    for (const returnUrl of [
      'https://evil.example/wearables/done',
      'https://app.example.com.evil.example/wearables/done',
      'https://app.example.com/wearables-evil',
      'https://app.example.com/wearables/../admin',
      'http://app.example.com/wearables/done',
      'https://app.example.com:8443/wearables/done',
      'https://evil.example@app.example.com/wearables/done',
      'http://localhost:5999/wearables/done',
      'javascript:alert(1)//https://app.example.com/wearables',
      'https://app.example.com/wearables/..%2Fadmin',
      'https://app.example.com/wearables/..%5cadmin',
      'https://app.example.com/wearables/done/../../admin',
    ]) {
      const res = await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: returnUrl, provider: 'strava' });
      expect(res.status, returnUrl).toBe(400);
      expect(res.body).toEqual({ detail: 'return_url is not allowed: it must start with one of the URLs in CONNECT_RETURN_URLS' });
    }
    expect(await count()).toBe(before);
  });

  it('a provider that is not configured is refused, naming it and its variables', async () => {
    const userId = await w.createUser();
    for (const body of [{ provider: 'coros' }, { providers: ['strava', 'coros'] }]) {
      const res = await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: RETURN_URL, ...body });
      expect(res.status).toBe(400);
      expect(res.body.detail).toBe('Provider coros is not configured: set COROS_CLIENT_ID and COROS_CLIENT_SECRET');
    }
    // With none named, the user chooses among the configured ones only.
    expect((await w.createSession(userId)).providers).toEqual(CONFIGURED);
  });
});

describe('with a short session lifetime, and shared accounts allowed', () => {
  let s: ConnectWorld;
  beforeAll(async () => {
    s = await startConnectWorld({ connect: { sessionTtlSeconds: 2, allowSharedAccounts: true } });
  });
  afterAll(async () => {
    if (s) s.expectNoLeaks();
    await s?.close();
  });

  it('an expired session: its link is a 410 page, it starts no flow, and a callback after expiry is refused (session_expired)', async () => {
    const userId = await s.createUser();
    const started = await s.createSession(userId, { provider: 'oura' });
    const unopened = await s.createSession(userId, { provider: 'oura' });
    const browser = s.browser();
    const callback = await s.untilCallback(browser, started.url);
    await sleep(2_200);

    const late = await browser.get(callback);
    expect(s.returned(late)).toEqual({ connect_session_id: started.id, status: 'error', provider: 'oura', error: 'session_expired' });
    expect(s.fake.callsTo('oura', 'token')).toHaveLength(0);
    await expectNothingStored(s, userId);
    expect(await session(s, started.id)).toMatchObject({ status: 'expired', connection_id: null });

    for (const url of [unopened.url, `${unopened.url}/oura`, started.url]) {
      const visit = await browser.get(url);
      expect(visit.status, url).toBe(410);
      expect(visit.location).toBeUndefined();
      expect(visit.body).toContain('This link has expired');
    }
    expect(await session(s, unopened.id)).toMatchObject({ status: 'expired' });
  });

  it('CONNECT_ALLOW_SHARED_ACCOUNTS=true connects a provider account already active for another user', async () => {
    const [first, second] = [await s.createUser(), await s.createUser()];
    for (const userId of [first, second]) {
      expect(s.returned((await s.run(s.browser(), (await s.createSession(userId, { provider: 'strava' })).url)).at(-1)!).status).toBe('connected');
    }
    const accounts = [...(await s.connectionsOf(first)), ...(await s.connectionsOf(second))].map((connection) => [connection.provider_user_id, connection.status]);
    expect(accounts).toEqual([
      ['134815', 'active'],
      ['134815', 'active'],
    ]);
    await s.expectSealed();
  });
});
