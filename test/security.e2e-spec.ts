import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { expectError, storedTokens } from './support/http-helpers.js';
import { ADMIN_KEY, startTestApp, TOKEN_KEY, type TestApp } from './support/test-app.js';

// ---------------------------------------------------------------------------------------------
// Shapes and helpers shared by every app in this file
// ---------------------------------------------------------------------------------------------

const INVALID_KEY_BODY = { detail: 'Invalid or missing API key' };
/** `v1.<key id>.<nonce>.<ciphertext>.<tag>`, base64url parts. */
const SEALED = /^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const POSITIVE_INTEGER = /^[1-9][0-9]*$/;

type Method = 'get' | 'post' | 'put' | 'delete';

/** A token a provider might issue: random, and recognisable in any dump. */
function providerToken(kind: 'access' | 'refresh'): string {
  return `${kind}-${randomBytes(24).toString('base64url')}`;
}

/** The forms in which a plaintext token could sit in a database without being encrypted. */
function plainForms(token: string): string[] {
  const bytes = Buffer.from(token);
  return [token, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
}

function call(t: TestApp, method: Method, path: string, key: string | null = ADMIN_KEY, body?: unknown) {
  let req = request(t.server)[method](path);
  if (key !== null) req = req.set('X-API-Key', key);
  if (body !== undefined) req = req.send(body as object);
  return req;
}

async function createUser(t: TestApp): Promise<string> {
  const id = randomUUID();
  const res = await call(t, 'post', '/api/v1/users', ADMIN_KEY, { id });
  expect(res.status, res.text).toBe(201);
  return id;
}

/**
 * Everything the database holds, as text: `pg_dump` on PostgreSQL; on the embedded database (which
 * takes one client, the app's) every row of every table in its text form.
 */
async function databaseText(t: TestApp): Promise<string> {
  if (process.env.DATABASE_URL) {
    const { stdout } = await promisify(execFile)('/usr/bin/pg_dump', [`--dbname=${t.databaseUrl}`], {
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
  }
  const tables = await t.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['users', 'connections', 'api_keys']));
  const parts: string[] = [];
  for (const { schema, name } of tables) {
    const rows = await t.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${name}" t`);
    parts.push(`-- ${schema}.${name}`, ...rows.map((r) => r.row));
  }
  return parts.join('\n');
}

/** The whole HTTP response a raw request got: status line, headers and body. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', (error) => (received ? resolve(received) : reject(error)));
    socket.on('close', () => resolve(received));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.write(text);
  });
}

function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
    }),
  );
  return { status, headers, body: rest.join('\r\n\r\n') };
}

// ---------------------------------------------------------------------------------------------
// With the default limits
// ---------------------------------------------------------------------------------------------

describe('security with the default limits', () => {
  let t: TestApp;
  let port: number;
  const cipher = new TokenCipher(TOKEN_KEY);

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    port = (t.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
  });

  async function expectStillServing(): Promise<void> {
    const live = await request(t.server).get('/health/live');
    expect(live.status).toBe(200);
    const users = await call(t, 'get', '/api/v1/users');
    expect(users.status).toBe(200);
  }

  describe('provider tokens at rest', () => {
    it('stores tokens as v1.<keyid>.<nonce>.<ciphertext>.<tag> that decrypt back with their row’s context', async () => {
      const userId = await createUser(t);
      const access = providerToken('access');
      const refresh = providerToken('refresh');
      const put = await call(t, 'put', `/api/v1/users/${userId}/connections/garmin`, ADMIN_KEY, {
        access_token: access,
        refresh_token: refresh,
      });
      expect(put.status, put.text).toBe(201);

      const stored = await storedTokens(t, userId, 'garmin');
      expect(stored.access_token).toMatch(SEALED);
      expect(stored.refresh_token).toMatch(SEALED);
      expect(cipher.decrypt(stored.access_token!, tokenContext(userId, 'garmin', 'access_token'))).toBe(access);
      expect(cipher.decrypt(stored.refresh_token!, tokenContext(userId, 'garmin', 'refresh_token'))).toBe(refresh);

      // Bound to its row and field: the same value does not decrypt as another user's, provider's or field's.
      expect(() => cipher.decrypt(stored.access_token!, tokenContext(randomUUID(), 'garmin', 'access_token'))).toThrow();
      expect(() => cipher.decrypt(stored.access_token!, tokenContext(userId, 'strava', 'access_token'))).toThrow();
      expect(() => cipher.decrypt(stored.access_token!, tokenContext(userId, 'garmin', 'refresh_token'))).toThrow();
    });

    it('seals the same token differently each time (a fresh nonce per value)', async () => {
      const userId = await createUser(t);
      const access = providerToken('access');
      for (const provider of ['strava', 'polar']) {
        const put = await call(t, 'put', `/api/v1/users/${userId}/connections/${provider}`, ADMIN_KEY, { access_token: access });
        expect(put.status, put.text).toBe(201);
      }
      const first = await storedTokens(t, userId, 'strava');
      const second = await storedTokens(t, userId, 'polar');
      expect(first.access_token).toMatch(SEALED);
      expect(second.access_token).toMatch(SEALED);
      expect(first.access_token!.split('.')[2]).not.toBe(second.access_token!.split('.')[2]);
      expect(first.access_token).not.toBe(second.access_token);
    });

    it('keeps a replaced connection’s new tokens encrypted too', async () => {
      const userId = await createUser(t);
      const path = `/api/v1/users/${userId}/connections/oura`;
      expect((await call(t, 'put', path, ADMIN_KEY, { access_token: providerToken('access') })).status).toBe(201);
      const access = providerToken('access');
      const refresh = providerToken('refresh');
      const replaced = await call(t, 'put', path, ADMIN_KEY, { access_token: access, refresh_token: refresh });
      expect(replaced.status, replaced.text).toBe(200);
      const stored = await storedTokens(t, userId, 'oura');
      expect(stored.access_token).toMatch(SEALED);
      expect(cipher.decrypt(stored.access_token!, tokenContext(userId, 'oura', 'access_token'))).toBe(access);
      expect(cipher.decrypt(stored.refresh_token!, tokenContext(userId, 'oura', 'refresh_token'))).toBe(refresh);
    });

    it('leaves no plaintext token, nor an API key secret, anywhere in the database', async () => {
      const tokens: string[] = [];
      const sealed: string[] = [];
      for (const provider of ['whoop', 'fitbit', 'withings']) {
        const userId = await createUser(t);
        const access = providerToken('access');
        const refresh = providerToken('refresh');
        tokens.push(access, refresh);
        const put = await call(t, 'put', `/api/v1/users/${userId}/connections/${provider}`, ADMIN_KEY, {
          access_token: access,
          refresh_token: refresh,
          provider_user_id: `pid-${randomUUID()}`,
        });
        expect(put.status, put.text).toBe(201);
        const stored = await storedTokens(t, userId, provider);
        sealed.push(stored.access_token!, stored.refresh_token!);
      }
      const created = await call(t, 'post', '/api/v1/api-keys', ADMIN_KEY, { name: `at-rest-${randomUUID()}`, scopes: ['read'] });
      expect(created.status, created.text).toBe(201);
      const apiKey: string = created.body.key;
      expect((await call(t, 'get', '/api/v1/users', apiKey)).status).toBe(200);

      const dump = await databaseText(t);
      // The dump really holds the data: the sealed values and the key's hash are in it.
      for (const value of sealed) expect(dump).toContain(value);
      expect(dump).toContain(createHash('sha256').update(apiKey).digest('hex'));

      for (const token of tokens) {
        for (const form of plainForms(token)) expect(dump, `the database holds ${form}`).not.toContain(form);
      }
      expect(dump).not.toContain(apiKey);
      expect(dump).not.toContain(apiKey.slice(created.body.prefix.length));
      expect(dump).not.toContain(ADMIN_KEY);
      expect(dump).not.toContain(TOKEN_KEY.toString('base64'));
      expect(dump).not.toContain(TOKEN_KEY.toString('hex'));
    });
  });

  describe('security headers', () => {
    const requests: { name: string; send: (t: TestApp) => request.Test }[] = [
      { name: 'a public route', send: (t) => request(t.server).get('/health/live') },
      { name: 'an authenticated route', send: (t) => request(t.server).get('/api/v1/users').set('X-API-Key', ADMIN_KEY) },
      { name: 'a 401', send: (t) => request(t.server).get('/api/v1/users') },
      { name: 'a 404', send: (t) => request(t.server).get(`/no-such-route-${randomUUID()}`).set('X-API-Key', ADMIN_KEY) },
      {
        name: 'a 400',
        send: (t) => request(t.server).post('/api/v1/users').set('X-API-Key', ADMIN_KEY).send({ id: 'not-a-uuid' }),
      },
    ];

    for (const { name, send } of requests) {
      it(`sends nosniff, frame, HSTS and CSP headers on ${name}`, async () => {
        const res = await send(t);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['x-frame-options']).toMatch(/^(DENY|SAMEORIGIN)$/i);
        expect(res.headers['strict-transport-security']).toMatch(/max-age=[1-9][0-9]*/);
        expect(res.headers['content-security-policy']).toMatch(/default-src/);
        expect(res.headers['x-powered-by']).toBeUndefined();
      });
    }
  });

  describe('oversized and malformed input', () => {
    it('answers a body over 1 MiB with 413 {"detail"}, and keeps serving', async () => {
      const id = randomUUID();
      const body = JSON.stringify({ id, external_user_id: 'x'.repeat(1024 * 1024 + 1) });
      const res = await request(t.server)
        .post('/api/v1/users')
        .set('X-API-Key', ADMIN_KEY)
        .set('Content-Type', 'application/json')
        .send(body);
      expectError(res, 413);
      expect((await call(t, 'get', `/api/v1/users/${id}`)).status).toBe(404);
      await expectStillServing();
    });

    it('accepts a body just under 1 MiB (the limit is on size, not on the route)', async () => {
      const userId = await createUser(t);
      // Over the token's length limit, so a 400 from validation, but read and parsed: not a 413.
      const body = JSON.stringify({ access_token: 'a'.repeat(1024 * 1024 - 100) });
      const res = await request(t.server)
        .put(`/api/v1/users/${userId}/connections/garmin`)
        .set('X-API-Key', ADMIN_KEY)
        .set('Content-Type', 'application/json')
        .send(body);
      expectError(res, 400);
    });

    const deepBodies = [
      { name: 'objects', body: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` },
      { name: 'arrays', body: `${'['.repeat(10_000)}1${']'.repeat(10_000)}` },
    ];

    for (const { name, body } of deepBodies) {
      it(`answers a JSON body of ${name} nested 10,000 deep with 400 {"detail"}, and keeps serving`, async () => {
        for (const [method, path] of [
          ['post', '/api/v1/users'],
          ['post', '/api/v1/api-keys'],
        ] as const) {
          const res = await request(t.server)[method](path)
            .set('X-API-Key', ADMIN_KEY)
            .set('Content-Type', 'application/json')
            .send(body);
          expectError(res, 400);
        }
        const userId = await createUser(t);
        const res = await request(t.server)
          .put(`/api/v1/users/${userId}/connections/garmin`)
          .set('X-API-Key', ADMIN_KEY)
          .set('Content-Type', 'application/json')
          .send(body);
        expectError(res, 400);
        await expectStillServing();
      });
    }

    it('answers a header over 16 KiB with 400, and keeps serving', async () => {
      const raw = await rawHttp(
        port,
        `GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nX-Padding: ${'p'.repeat(17 * 1024)}\r\nConnection: close\r\n\r\n`,
      );
      const res = parseRawResponse(raw);
      expect(res.status, raw.slice(0, 500)).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ detail: expect.any(String) });
      await expectStillServing();
    });

    it('answers headers adding up to over 16 KiB with 400', async () => {
      const many = Array.from({ length: 40 }, (_, i) => `X-Many-${i}: ${'m'.repeat(500)}\r\n`).join('');
      const raw = await rawHttp(port, `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n${many}Connection: close\r\n\r\n`);
      expect(parseRawResponse(raw).status, raw.slice(0, 500)).toBe(400);
      await expectStillServing();
    });

    it('serves a request whose headers stay well under 16 KiB (the raw client is sound)', async () => {
      const raw = await rawHttp(
        port,
        `GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nX-Padding: ${'p'.repeat(8 * 1024)}\r\nConnection: close\r\n\r\n`,
      );
      expect(parseRawResponse(raw).status, raw.slice(0, 500)).toBe(200);
    });

    const contentTypes = ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x'];

    for (const contentType of contentTypes) {
      it(`answers a ${contentType} body with 415 {"detail"}, creates nothing, and keeps serving`, async () => {
        const id = randomUUID();
        const res = await request(t.server)
          .post('/api/v1/users')
          .set('X-API-Key', ADMIN_KEY)
          .set('Content-Type', contentType)
          .send(contentType.startsWith('application/x-www') ? `id=${id}` : `{"id":"${id}"}`);
        expectError(res, 415);
        expect((await call(t, 'get', `/api/v1/users/${id}`)).status).toBe(404);
        await expectStillServing();
      });
    }
  });

  describe('logs', () => {
    /**
     * The line logged when a request completed (it has `res`), once one satisfies `match`: waits, bounded,
     * since the line is written as the response finishes.
     */
    async function requestLine(match: (entry: Record<string, any>) => boolean): Promise<Record<string, any> | undefined> {
      for (let i = 0; i < 100; i++) {
        for (const line of t.logs) {
          let entry: Record<string, any>;
          try {
            entry = JSON.parse(line);
          } catch {
            continue;
          }
          if (entry.req && entry.res && match(entry)) return entry;
        }
        await sleep(20);
      }
      return undefined;
    }

    it('writes no provider token and no API key into any log line, on any route', async () => {
      const secrets: string[] = [ADMIN_KEY, TOKEN_KEY.toString('base64'), TOKEN_KEY.toString('hex')];
      const token = (kind: 'access' | 'refresh') => {
        const value = providerToken(kind);
        secrets.push(value);
        return value;
      };

      // A key of every scope, each used.
      const keys: Record<string, string> = {};
      for (const scope of ['read', 'write', 'admin']) {
        const res = await call(t, 'post', '/api/v1/api-keys', ADMIN_KEY, { name: `logs-${scope}-${randomUUID()}`, scopes: [scope] });
        expect(res.status, res.text).toBe(201);
        keys[scope] = res.body.key;
        secrets.push(res.body.key);
      }
      const admin = keys.admin;

      const userId = randomUUID();
      const steps: [Method, string, string | null, unknown, number][] = [
        ['post', '/api/v1/users', keys.write, { id: userId }, 201],
        ['get', '/api/v1/users', keys.read, undefined, 200],
        ['get', `/api/v1/users/${userId}`, keys.read, undefined, 200],
        ['put', `/api/v1/users/${userId}/connections/garmin`, keys.write, { access_token: token('access'), refresh_token: token('refresh') }, 201],
        ['put', `/api/v1/users/${userId}/connections/garmin`, admin, { access_token: token('access'), refresh_token: token('refresh') }, 200],
        ['put', `/api/v1/users/${userId}/connections/strava`, keys.read, { access_token: token('access') }, 403],
        ['put', `/api/v1/users/${userId}/connections/strava`, `wck_${randomBytes(32).toString('base64url')}`, { access_token: token('access') }, 401],
        ['put', `/api/v1/users/${userId}/connections/strava`, keys.write, { access_token: token('access'), status: 'paused' }, 400],
        ['put', `/api/v1/users/${userId}/connections/strava`, keys.write, { access_token: token('access'), colour: token('refresh') }, 400],
        ['put', `/api/v1/users/${userId}/connections/nokia`, keys.write, { access_token: token('access') }, 400],
        ['put', `/api/v1/users/${randomUUID()}/connections/polar`, keys.write, { access_token: token('access'), refresh_token: token('refresh') }, 404],
        ['get', `/api/v1/users/${userId}/connections`, keys.read, undefined, 200],
        ['delete', `/api/v1/users/${userId}/connections/garmin`, keys.write, undefined, 204],
        ['get', '/api/v1/api-keys', admin, undefined, 200],
        ['post', '/api/v1/api-keys', keys.write, { name: 'nope', scopes: ['read'] }, 403],
        ['delete', `/api/v1/users/${userId}`, admin, undefined, 204],
      ];
      for (const [method, path, key, body, status] of steps) {
        const res = await call(t, method, path, key, body);
        expect(res.status, `${method.toUpperCase()} ${path}: ${res.text}`).toBe(status);
      }
      // Malformed JSON around a token, which a parser error message could quote.
      const malformedToken = token('access');
      const malformed = await request(t.server)
        .put(`/api/v1/users/${randomUUID()}/connections/garmin`)
        .set('X-API-Key', keys.write)
        .set('Content-Type', 'application/json')
        .send(`{"access_token": "${malformedToken}" x}`);
      expect(malformed.status).toBe(400);
      // Revoking a key, then trying it.
      const listed = await call(t, 'get', '/api/v1/api-keys', admin);
      const readKeyId = (listed.body as { id: string; prefix: string }[]).find((k) => keys.read.startsWith(k.prefix))!.id;
      expect((await call(t, 'delete', `/api/v1/api-keys/${readKeyId}`, admin)).status).toBe(204);
      expect((await call(t, 'get', '/api/v1/users', keys.read)).status).toBe(401);

      // Every request above has been logged by now.
      const last = await call(t, 'get', `/api/v1/users/${randomUUID()}`, admin);
      expect(last.status).toBe(404);
      expect(await requestLine((e) => e.req?.id === last.headers['x-request-id'])).toBeDefined();

      expect(t.logs.length).toBeGreaterThan(steps.length);
      for (const line of t.logs) {
        for (const secret of secrets) expect(line, `a log line holds a secret: ${line}`).not.toContain(secret);
        for (const key of Object.values(keys)) expect(line).not.toContain(key.slice(12));
      }
    });

    it('does not echo a token from a malformed JSON body in the error response', async () => {
      const secret = providerToken('access');
      for (const body of [`{"access_token": "${secret}" x}`, `{"access_token": "${secret}", }`, `{"access_token": ${secret}}`]) {
        const res = await request(t.server)
          .put(`/api/v1/users/${randomUUID()}/connections/garmin`)
          .set('X-API-Key', ADMIN_KEY)
          .set('Content-Type', 'application/json')
          .send(body);
        expectError(res, 400);
        expect(res.text).not.toContain(secret);
        expect(res.text).not.toContain(secret.slice(0, 16));
      }
    });

    it('writes request log lines as JSON with a req.id equal to the response’s X-Request-Id', async () => {
      const path = `/api/v1/users/${randomUUID()}`;
      const res = await call(t, 'get', path);
      expect(res.status).toBe(404);
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID);

      const entry = await requestLine((e) => e.req?.url === path);
      expect(entry, `no log line for ${path}`).toBeDefined();
      expect(entry!.req.id).toBe(id);
      expect(entry!.req.method).toBe('GET');
      expect(entry!.res?.statusCode).toBe(404);

      for (const line of t.logs) expect(() => JSON.parse(line), `not JSON: ${line}`).not.toThrow();
      const requestLines = t.logs.map((line) => JSON.parse(line)).filter((e) => e.req && e.res);
      expect(requestLines.length).toBeGreaterThan(0);
      for (const line of requestLines) expect(typeof line.req.id).toBe('string');
    });

    it('gives every request its own id', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) ids.add((await call(t, 'get', '/api/v1/users')).headers['x-request-id']);
      ids.add((await request(t.server).get('/health/live')).headers['x-request-id']);
      ids.add((await call(t, 'get', '/api/v1/users', null)).headers['x-request-id']);
      expect(ids.size).toBe(7);
      for (const id of ids) expect(id).toMatch(UUID);
    });

    it('echoes a sane incoming X-Request-Id and logs the request under it', async () => {
      const incoming = `client-${randomUUID()}`;
      const path = `/api/v1/users/${randomUUID()}`;
      const res = await call(t, 'get', path).set('X-Request-Id', incoming);
      expect(res.status).toBe(404);
      expect(res.headers['x-request-id']).toBe(incoming);
      const entry = await requestLine((e) => e.req?.url === path);
      expect(entry?.req.id).toBe(incoming);
    });

    for (const { name, id } of [
      { name: 'one with spaces and markup', id: () => `bad id <script>${randomUUID()}</script>` },
      { name: 'one over 64 characters', id: () => `long-${randomUUID()}-${randomUUID()}` },
      { name: 'one with a JSON-breaking quote', id: () => `quote"${randomUUID()}` },
    ]) {
      it(`replaces an unsafe incoming X-Request-Id (${name}) with a generated one`, async () => {
        const incoming = id();
        const path = `/api/v1/users/${randomUUID()}`;
        const res = await call(t, 'get', path).set('X-Request-Id', incoming);
        expect(res.status).toBe(404);
        expect(res.headers['x-request-id']).not.toBe(incoming);
        expect(res.headers['x-request-id']).toMatch(UUID);
        const entry = await requestLine((e) => e.req?.url === path);
        expect(entry?.req.id).toBe(res.headers['x-request-id']);
        for (const line of t.logs) expect(line).not.toContain(incoming);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Limits: each on an app of its own, since a block lasts a minute
// ---------------------------------------------------------------------------------------------

describe('failed-authentication limit (5 per minute)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ authFailureLimitPerMinute: 5, rateLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('blocks an address after repeated wrong keys: 429 with Retry-After and {"detail"}, then even the valid admin key gets 429', async () => {
    // Successful requests do not count as failures.
    for (let i = 0; i < 10; i++) expect((await call(t, 'get', '/api/v1/users')).status).toBe(200);

    let blocked: request.Response | undefined;
    const seen: number[] = [];
    for (let attempt = 1; attempt <= 6 && !blocked; attempt++) {
      const wrong = attempt % 2 === 0 ? `wck_${randomBytes(32).toString('base64url')}` : null;
      const res = await call(t, 'get', '/api/v1/users', wrong);
      seen.push(res.status);
      if (res.status === 429) blocked = res;
      else {
        expect(res.status).toBe(401);
        expect(res.body).toEqual(INVALID_KEY_BODY);
      }
    }
    expect(blocked, `statuses: ${seen.join(', ')}`).toBeDefined();
    expectError(blocked!, 429);
    expect(blocked!.headers['retry-after']).toMatch(POSITIVE_INTEGER);

    for (const [method, path] of [
      ['get', '/api/v1/users'],
      ['get', '/api/v1/api-keys'],
      ['post', '/api/v1/users'],
    ] as const) {
      const res = await call(t, method, path, ADMIN_KEY, method === 'post' ? { id: randomUUID() } : undefined);
      expectError(res, 429);
      expect(res.headers['retry-after']).toMatch(POSITIVE_INTEGER);
    }
    // The block is on authentication, not on the public liveness probe.
    expect((await request(t.server).get('/health/live')).status).toBe(200);
  });
});

describe('per-key rate limit (10 per minute)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ rateLimitPerMinute: 10, authFailureLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers the 11th request of a valid key with 429, Retry-After and {"detail"}, counting every route; /health/live stays unlimited', async () => {
    const paths = ['/api/v1/users', '/api/v1/api-keys'];
    for (let i = 0; i < 10; i++) {
      const res = await call(t, 'get', paths[i % 2]);
      expect(res.status, `request ${i + 1}: ${res.text}`).toBe(200);
    }
    const eleventh = await call(t, 'get', '/api/v1/users');
    expectError(eleventh, 429);
    expect(eleventh.headers['retry-after']).toMatch(POSITIVE_INTEGER);

    const twelfth = await call(t, 'post', '/api/v1/users', ADMIN_KEY, { id: randomUUID() });
    expectError(twelfth, 429);

    for (let i = 0; i < 15; i++) {
      const live = await request(t.server).get('/health/live');
      expect(live.status).toBe(200);
    }
  });
});
