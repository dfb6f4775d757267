/**
 * The connect flow, end to end, for each of the nine providers: the consumer's backend asks for a
 * session over the API, and a browser (real HTTP, redirects followed one by one, a cookie jar) follows
 * the link through the fake providers (P_BASE_URL) back to the return_url. On the embedded database,
 * or on PostgreSQL with DATABASE_URL.
 */
import { randomUUID } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../src/connections/providers.js';
import { ISO_UTC, UUID } from './support/contract.js';
import { type ConnectWorld, EXPECTED_CONNECTION, PKCE_PROVIDERS, RETURN_URL, startConnectWorld } from './support/connect-world.js';

let w: ConnectWorld;

beforeAll(async () => {
  w = await startConnectWorld();
});

afterAll(async () => {
  // Every response, redirect, page and log line of this file, checked once at the end (and by each test that asks).
  if (w) w.expectNoLeaks();
  await w?.close();
});

describe('POST /api/v1/users/{user_id}/connect-sessions', () => {
  it('answers the session: its id, a link under PUBLIC_URL with an opaque 256-bit token, its expiry (15 minutes), its providers', async () => {
    const userId = await w.createUser();
    const before = Date.now();
    const session = await w.createSession(userId, { provider: 'strava' });
    expect(Object.keys(session).sort()).toEqual(['expires_at', 'id', 'providers', 'token', 'url']);
    expect(session.id).toMatch(UUID);
    expect(session.url).toMatch(new RegExp(`^${w.publicUrl}/connect/[A-Za-z0-9_-]{43}$`));
    expect(session.expires_at).toMatch(ISO_UTC);
    const ttl = Date.parse(session.expires_at) - before;
    expect(ttl).toBeGreaterThan(895_000);
    expect(ttl).toBeLessThan(905_000);
    expect(session.providers).toEqual(['strava']);
    // Only the token's hash is stored.
    const rows = await w.t.query<{ token_hash: string }>('SELECT token_hash FROM connect_sessions WHERE id = $1', [session.id]);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await w.t.query('SELECT * FROM connect_sessions'))).not.toContain(session.token);
  });

  it('offers every configured provider when none is named, and the named ones (once each) otherwise', async () => {
    const userId = await w.createUser();
    expect((await w.createSession(userId)).providers).toEqual([...PROVIDERS]);
    expect((await w.createSession(userId, { providers: ['oura', 'garmin', 'oura'] })).providers).toEqual(['oura', 'garmin']);
  });

  it('refuses what is not a session: an unknown user (404), a bad provider, both provider and providers, a missing return_url (400)', async () => {
    const userId = await w.createUser();
    const post = (id: string, body: object) => w.api('post', `/api/v1/users/${id}/connect-sessions`, body);
    expect((await post(randomUUID(), { return_url: RETURN_URL })).body).toEqual({ detail: 'User not found' });
    expect((await post('not-a-uuid', { return_url: RETURN_URL })).status).toBe(400);
    const unknown = await post(userId, { return_url: RETURN_URL, provider: 'fitbitt' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toContain('provider must be one of');
    const both = await post(userId, { return_url: RETURN_URL, provider: 'strava', providers: ['oura'] });
    expect(both.status).toBe(400);
    expect(both.body.detail).toContain('provider and providers');
    expect((await post(userId, { return_url: RETURN_URL, providers: [] })).status).toBe(400);
    expect((await post(userId, {})).body).toEqual({ detail: 'return_url is required' });
    expect((await post(userId, { return_url: RETURN_URL, colour: 'blue' })).body).toEqual({ detail: 'colour is not a known field' });
  });

  it('allows only http://localhost and http://127.0.0.1 return URLs while CONNECT_RETURN_URLS is unset, naming the variable', async () => {
    const userId = await w.createUser();
    for (const returnUrl of ['http://localhost:8080/done', 'http://127.0.0.1/x?y=1']) {
      expect((await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: returnUrl })).status, returnUrl).toBe(201);
    }
    for (const returnUrl of ['https://evil.example/done', 'http://localhost.evil.example/', 'javascript:alert(1)']) {
      const res = await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: returnUrl });
      expect(res.status, returnUrl).toBe(400);
      expect(res.body.detail).toContain('CONNECT_RETURN_URLS');
    }
  });

  it('needs the write scope; reading a session needs read', async () => {
    const userId = await w.createUser();
    const read = await w.api('post', '/api/v1/api-keys', { name: `read-${randomUUID()}`, scopes: ['read'] });
    const write = await w.api('post', '/api/v1/api-keys', { name: `write-${randomUUID()}`, scopes: ['write'] });
    const refused = await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: RETURN_URL }, read.body.key);
    expect(refused.status).toBe(403);
    const created = await w.api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: RETURN_URL }, write.body.key);
    expect(created.status).toBe(201);
    expect((await w.api('get', `/api/v1/connect-sessions/${created.body.id}`, undefined, read.body.key)).status).toBe(200);
    expect((await w.api('get', `/api/v1/connect-sessions/${created.body.id}`, undefined, 'wck_nope')).status).toBe(401);
  });
});

describe('GET /api/v1/connect-sessions/{id}', () => {
  it('shows a new session as pending, with no outcome', async () => {
    const userId = await w.createUser();
    const session = await w.createSession(userId, { provider: 'oura' });
    const res = await w.api('get', `/api/v1/connect-sessions/${session.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: session.id,
      user_id: userId,
      status: 'pending',
      provider: null,
      connection_id: null,
      error: null,
      expires_at: session.expires_at,
      created_at: expect.stringMatching(ISO_UTC),
    });
  });

  it('answers 404 for an unknown session and 400 for an id that is not a UUID', async () => {
    expect((await w.api('get', `/api/v1/connect-sessions/${randomUUID()}`)).body).toEqual({ detail: 'Connect session not found' });
    expect((await w.api('get', '/api/v1/connect-sessions/nope')).status).toBe(400);
  });
});

describe('the whole flow, as a browser follows it', () => {
  for (const provider of PROVIDERS) {
    it(`connects a ${provider} account: link, provider's consent, callback, return_url; the connection holds the provider's account and granted scope`, async () => {
      const userId = await w.createUser();
      const session = await w.createSession(userId, { provider });
      const browser = w.browser();
      const visits = await w.run(browser, session.url);
      const [link, start, , callback] = visits;
      expect(visits).toHaveLength(4);

      // 1. The link, with one provider, goes straight to its flow.
      expect(link.status).toBe(302);
      expect(link.location).toBe(`${session.url}/${provider}`);

      // 2. The flow's start: a fresh state, PKCE where the provider uses it, and the flow cookie.
      expect(start.status).toBe(302);
      const authorize = new URL(start.location!);
      expect(authorize.origin).toBe(w.fake.baseUrl);
      expect(authorize.searchParams.get('redirect_uri')).toBe(`${w.publicUrl}/oauth/${provider}/callback`);
      expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      if (PKCE_PROVIDERS.includes(provider)) {
        expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
        expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      } else {
        expect(authorize.searchParams.has('code_challenge')).toBe(false);
      }
      expect(start.setCookies).toHaveLength(1);
      expect(start.setCookies[0]).toMatch(new RegExp(`^wc_connect_${provider}=[A-Za-z0-9_-]{43}; Path=/oauth; Max-Age=600; HttpOnly; SameSite=Lax$`));

      // 3. The provider consented and sent the browser back; the callback brought the cookie and finished.
      expect(callback.url).toMatch(new RegExp(`^${w.publicUrl}/oauth/${provider}/callback\\?`));
      expect(callback.sentCookies).toMatch(new RegExp(`^wc_connect_${provider}=`));
      const query = w.returned(callback);
      expect(query).toEqual({ connect_session_id: session.id, status: 'connected', provider, connection_id: expect.stringMatching(UUID) });
      expect(callback.setCookies).toEqual([`wc_connect_${provider}=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Lax`]);
      expect(browser.cookie(`wc_connect_${provider}`)).toBeUndefined();

      // 4. The consumer's backend learns the outcome server-side, and the connection is there.
      const outcome = await w.api('get', `/api/v1/connect-sessions/${session.id}`);
      expect(outcome.body).toMatchObject({ status: 'completed', provider, connection_id: query.connection_id, error: null, user_id: userId });
      const connections = await w.connectionsOf(userId);
      expect(connections).toEqual([
        expect.objectContaining({ id: query.connection_id, provider, status: 'active', ...EXPECTED_CONNECTION[provider] }),
      ]);
      expect(w.created).toContainEqual({ connection_id: query.connection_id, user_id: userId, provider, reason: 'linked' });

      // Every attempt and its outcome are stored.
      const attempts = await w.t.query<{ status: string; error: string | null; used_at: Date | null; code_verifier: string | null }>(
        'SELECT status, error, used_at, code_verifier FROM connect_attempts WHERE session_id = $1',
        [session.id],
      );
      expect(attempts).toEqual([{ status: 'connected', error: null, used_at: expect.any(Date), code_verifier: null }]);
      await w.expectSealed();
      await w.release(userId, provider);
    });
  }

  it('shows the connect page when the session offers several providers; following one connects it; its back link returns cancelled', async () => {
    const userId = await w.createUser();
    const session = await w.createSession(userId, { providers: ['garmin', 'coros'] });
    const browser = w.browser();
    const page = await browser.get(session.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const buttons = [...page.body.matchAll(/<a class="button[^"]*" href="([^"]+)">([^<]+)<span class="visually-hidden"> ([^<]+)<\/span><\/a>/g)].map((match) => match.slice(1));
    expect(buttons).toEqual([
      [`${session.url}/garmin`, 'Connect', 'Garmin'],
      [`${session.url}/coros`, 'Connect', 'COROS'],
    ]);
    expect(page.body.match(/Not connected/g)).toHaveLength(2);
    // Nothing of the user, the session or the consumer's return_url is on the page.
    expect(page.body).not.toContain(userId);
    expect(page.body).not.toContain(session.id);
    expect(page.body).not.toContain('callback');

    const back = await browser.get(`${session.url}/cancel`);
    expect(back.status).toBe(302);
    expect(w.returned(back)).toEqual({ connect_session_id: session.id, status: 'cancelled' });

    const visits = await w.run(browser, buttons[1][0]);
    expect(w.returned(visits[visits.length - 1])).toMatchObject({ status: 'connected', provider: 'coros' });
    expect((await w.connectionsOf(userId)).map((connection) => connection.provider)).toEqual(['coros']);
    await w.release(userId, 'coros');
    // The session is finished: its link now says so, and so does its back link.
    const used = await browser.get(session.url);
    expect(used.status).toBe(410);
    expect(used.body).toContain('already been used');
    expect((await browser.get(`${session.url}/cancel`)).status).toBe(410);
  });

  it('re-links a connection the user had disconnected (connection.created, reason relinked), same connection id', async () => {
    const userId = await w.createUser();
    const first = w.returned((await w.run(w.browser(), (await w.createSession(userId, { provider: 'withings' })).url)).at(-1)!);
    expect((await w.api('delete', `/api/v1/users/${userId}/connections/withings`)).status).toBe(204);
    const second = w.returned((await w.run(w.browser(), (await w.createSession(userId, { provider: 'withings' })).url)).at(-1)!);
    expect(second).toMatchObject({ status: 'connected', connection_id: first.connection_id });
    expect(w.created).toContainEqual({ connection_id: first.connection_id, user_id: userId, provider: 'withings', reason: 'relinked' });
    expect(await w.connectionsOf(userId)).toEqual([expect.objectContaining({ provider: 'withings', status: 'active' })]);
  });

  it('keeps the return_url’s own query, and replaces any parameter of the outcome’s names it had', async () => {
    const userId = await w.createUser();
    const session = await w.createSession(userId, { provider: 'whoop', return_url: 'http://127.0.0.1:4000/back?tab=devices&status=forged&error=x' });
    const visits = await w.run(w.browser(), session.url);
    const location = new URL(visits.at(-1)!.location!);
    expect([...location.searchParams.keys()].sort()).toEqual(['connect_session_id', 'connection_id', 'provider', 'status', 'tab']);
    expect(location.searchParams.get('status')).toBe('connected');
    expect(location.searchParams.get('tab')).toBe('devices');
    await w.release(userId, 'whoop');
  });

  it('writes request lines without the link’s token, the code or the state', async () => {
    const userId = await w.createUser();
    const session = await w.createSession(userId, { provider: 'suunto' });
    expect(w.returned((await w.run(w.browser(), session.url)).at(-1)!).status).toBe('connected');
    const lines = w.t.logs.filter((line) => line.includes('request completed'));
    expect(lines.some((line) => line.includes('"/connect/[redacted]"'))).toBe(true);
    expect(lines.some((line) => line.includes('"/connect/[redacted]/suunto"'))).toBe(true);
    const callback = lines.find((line) => line.includes('/oauth/suunto/callback?'));
    expect(callback).toContain('code=[redacted]');
    expect(callback).toContain('state=[redacted]');
    w.expectNoLeaks();
    await w.release(userId, 'suunto');
  });

  it('writes no link token however the path spells the link: routed (/%63onnect/…) or not (//connect/…, /CONNECT/…), in request lines and 404 answers', async () => {
    const session = await w.createSession(await w.createUser(), { provider: 'oura' });
    const { token } = session;
    const { port } = new URL(w.publicUrl);
    // Raw requests, so that the path reaches the service exactly as written.
    const rawGet = (path: string) =>
      new Promise<{ status: number; body: string; location?: string }>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body, location: res.headers.location }));
        });
        req.on('error', reject);
      });

    // Routed as the link, and answered as the link (its own redirect, which carries the token, as the link's URLs do).
    const routed = await rawGet(`/%63onnect/${token}`);
    expect(routed.status).toBe(302);
    expect(routed.location).toBe(`${session.url}/oura`);
    for (const path of [`//connect/${token}`, `/CONNECT/${token}`, `/CONNECT/${token}/oura`]) {
      const answer = await rawGet(path);
      expect(answer.status, path).toBe(404);
      expect(answer.body, path).not.toContain(token);
      expect(JSON.parse(answer.body).detail, path).toMatch(/^Route GET \/.*\[redacted\].* not found$/);
    }
    await sleep(50);
    const lines = w.t.logs.filter((line) => line.includes('request completed'));
    for (const path of ['"/%63onnect/[redacted]"', '"//connect/[redacted]"', '"/connect/[redacted]"', '"/connect/[redacted]/oura"']) {
      expect(lines.some((line) => line.includes(path)), path).toBe(true);
    }
    for (const line of w.t.logs) expect(line).not.toContain(token);
  });
});
