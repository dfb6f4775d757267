import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATE_LIMIT_STORAGE } from '../src/auth/auth.options.js';
import { MAX_STORED_KEY_LENGTH, MemoryRateLimitStorage } from '../src/auth/rate-limit.storage.js';
import { redactUrl } from '../src/common/logging.js';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { INVALID_KEY_BODY, UUID } from './support/contract.js';
import { expectError, httpHelpers, type Method, storedTokens } from './support/http-helpers.js';
import { ADMIN_KEY, startTestApp, TOKEN_KEY, type TestApp } from './support/test-app.js';

// ---------------------------------------------------------------------------------------------
// Shapes and helpers shared by every app in this file
// ---------------------------------------------------------------------------------------------

/** `v1.<key id>.<nonce>.<ciphertext>.<tag>`, base64url parts. */
const SEALED = /^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/;
const POSITIVE_INTEGER = /^[1-9][0-9]*$/;

/** A token a provider might issue: random, and recognisable in any dump. */
function providerToken(kind: 'access' | 'refresh'): string {
  return `${kind}-${randomBytes(24).toString('base64url')}`;
}

/** The forms in which a plaintext token could sit in a database without being encrypted. */
function plainForms(token: string): string[] {
  const bytes = Buffer.from(token);
  return [token, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
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

/** The whole HTTP response a raw request got: status line, headers and body. `later` is sent 50 ms after `text`. */
function rawHttp(port: number, text: string, later?: string): Promise<string> {
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
    if (later !== undefined) setTimeout(() => socket.write(later), 50);
  });
}

/** Adds a route of the test's own that shows the address Fastify gives the request: the one the guard counts. */
function addClientAddressRoute(app: NestFastifyApplication): void {
  app.getHttpAdapter().getInstance().get('/test/client-address', (req, reply) => {
    reply.send({ ip: req.ip });
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
  const { call, createUser, putConnection, createKey } = httpHelpers(() => t);

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
    const users = await call('get', '/api/v1/users');
    expect(users.status).toBe(200);
  }

  describe('provider tokens at rest', () => {
    it('stores tokens as v1.<keyid>.<nonce>.<ciphertext>.<tag> that decrypt back with their row’s context', async () => {
      const { id: userId } = await createUser();
      const access = providerToken('access');
      const refresh = providerToken('refresh');
      const put = await putConnection(userId, 'garmin', { access_token: access, refresh_token: refresh });
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
      const { id: userId } = await createUser();
      const access = providerToken('access');
      for (const provider of ['strava', 'polar']) {
        const put = await putConnection(userId, provider, { access_token: access });
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
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'oura', { access_token: providerToken('access') })).status).toBe(201);
      const access = providerToken('access');
      const refresh = providerToken('refresh');
      const replaced = await putConnection(userId, 'oura', { access_token: access, refresh_token: refresh });
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
        const { id: userId } = await createUser();
        const access = providerToken('access');
        const refresh = providerToken('refresh');
        tokens.push(access, refresh);
        const put = await putConnection(userId, provider, { access_token: access, refresh_token: refresh, provider_user_id: `pid-${randomUUID()}` });
        expect(put.status, put.text).toBe(201);
        const stored = await storedTokens(t, userId, provider);
        sealed.push(stored.access_token!, stored.refresh_token!);
      }
      const { key: apiKey } = await createKey(['read']);
      expect((await call('get', '/api/v1/users', { key: apiKey })).status).toBe(200);

      const dump = await databaseText(t);
      // The dump really holds the data: the sealed values and the key's hash are in it.
      for (const value of sealed) expect(dump).toContain(value);
      expect(dump).toContain(createHash('sha256').update(apiKey).digest('hex'));

      for (const token of tokens) {
        for (const form of plainForms(token)) expect(dump, `the database holds ${form}`).not.toContain(form);
      }
      expect(dump).not.toContain(apiKey);
      // No part of the key either (its listed prefix is made from its hash, not from the key).
      for (let i = 0; i + 8 <= apiKey.length; i += 4) expect(dump).not.toContain(apiKey.slice(i, i + 8));
      expect(dump).not.toContain(ADMIN_KEY);
      expect(dump).not.toContain(TOKEN_KEY.toString('base64'));
      expect(dump).not.toContain(TOKEN_KEY.toString('hex'));
    });
  });

  describe('security headers', () => {
    it('gives every API response, on any route and with any status, a policy for data: nothing loads, frames, sniffs or caches it', async () => {
      const responses: [string, request.Response][] = [
        ['a public route', await call('get', '/health/live', { key: null })],
        ['an authenticated route', await call('get', '/api/v1/users')],
        ['a 401', await call('get', '/api/v1/users', { key: null })],
        ['a 404 for a route', await call('get', `/no-such-route-${randomUUID()}`)],
        ['a 404 for a route, without a key', await call('get', '/no/such/route', { key: null })],
        ['a 404 for a user', await call('get', `/api/v1/users/${randomUUID()}/connections`)],
        ['a 400', await call('post', '/api/v1/users', { body: { id: 'not-a-uuid' } })],
      ];
      for (const [name, res] of responses) {
        expect(res.headers['content-security-policy'], name).toBe("default-src 'none';frame-ancestors 'none'");
        expect(res.headers['cache-control'], name).toBe('no-store');
        expect(res.headers['x-content-type-options'], name).toBe('nosniff');
        expect(res.headers['x-frame-options'], name).toBe('DENY');
        expect(res.headers['referrer-policy'], name).toBe('no-referrer');
        expect(res.headers['strict-transport-security'], name).toMatch(/^max-age=[1-9][0-9]*; includeSubDomains$/);
        // Headers that only mean something to an HTML page are not sent with data, nor is the framework named.
        for (const header of ['x-xss-protection', 'x-dns-prefetch-control', 'x-download-options', 'origin-agent-cluster', 'x-powered-by']) {
          expect(res.headers[header], `${name}: ${header}`).toBeUndefined();
        }
      }
    });

    it('gives the Swagger UI pages helmet’s page policy, which lets them run their own scripts', async () => {
      const page = await request(t.server).get('/docs');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      const document = await request(t.server).get('/docs/openapi.json');
      expect(document.status).toBe(200);
      expect(document.headers['content-security-policy']).toMatch(/default-src 'self'/);
      // A path that only starts like /docs is an API path.
      const other = await request(t.server).get('/docsx');
      expect(other.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    });
  });

  describe('oversized and malformed input', () => {
    it('answers a body over 1 MiB with 413 {"detail"}, and keeps serving', async () => {
      const id = randomUUID();
      const body = JSON.stringify({ id, external_user_id: 'x'.repeat(1024 * 1024 + 1) });
      expectError(await call('post', '/api/v1/users', { rawBody: body }), 413);
      expect((await call('get', `/api/v1/users/${id}`)).status).toBe(404);
      await expectStillServing();
    });

    it('accepts a body just under 1 MiB (the limit is on size, not on the route)', async () => {
      const { id: userId } = await createUser();
      // Over the token's length limit, so a 400 from validation, but read and parsed: not a 413.
      const body = JSON.stringify({ access_token: 'a'.repeat(1024 * 1024 - 100) });
      expectError(await call('put', `/api/v1/users/${userId}/connections/garmin`, { rawBody: body }), 400);
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
          expectError(await call(method, path, { rawBody: body }), 400);
        }
        const { id: userId } = await createUser();
        expectError(await call('put', `/api/v1/users/${userId}/connections/garmin`, { rawBody: body }), 400);
        await expectStillServing();
      });
    }

    it('answers a header over 16 KiB, or headers adding up to over 16 KiB, with 400, and keeps serving', async () => {
      const raw = await rawHttp(
        port,
        `GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nX-Padding: ${'p'.repeat(17 * 1024)}\r\nConnection: close\r\n\r\n`,
      );
      const res = parseRawResponse(raw);
      expect(res.status, raw.slice(0, 500)).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ detail: expect.any(String) });
      await expectStillServing();

      const many = Array.from({ length: 40 }, (_, i) => `X-Many-${i}: ${'m'.repeat(500)}\r\n`).join('');
      const rawMany = await rawHttp(port, `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n${many}Connection: close\r\n\r\n`);
      expect(parseRawResponse(rawMany).status, rawMany.slice(0, 500)).toBe(400);
      await expectStillServing();
    });

    it('serves a request whose headers stay well under 16 KiB (the raw client is sound)', async () => {
      const raw = await rawHttp(
        port,
        `GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nX-Padding: ${'p'.repeat(8 * 1024)}\r\nConnection: close\r\n\r\n`,
      );
      expect(parseRawResponse(raw).status, raw.slice(0, 500)).toBe(200);
    });

    it('answers a body that is not JSON with 415 "Content-Type must be application/json" on every route that reads one, a DELETE too, creates nothing, and keeps serving', async () => {
      const { id: userId } = await createUser();
      for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
        const id = randomUUID();
        const rawBody = contentType.startsWith('application/x-www') ? `id=${id}` : `{"id":"${id}"}`;
        const res = await call('post', '/api/v1/users', { rawBody, contentType });
        expectError(res, 415);
        expect(res.body, contentType).toEqual({ detail: 'Content-Type must be application/json' });
        expect((await call('get', `/api/v1/users/${id}`)).status).toBe(404);
        await expectStillServing();
      }
      for (const [method, path, contentType] of [
        ['put', `/api/v1/users/${userId}/connections/polar`, 'text/plain'],
        ['post', '/api/v1/api-keys', 'application/x-www-form-urlencoded'],
        ['delete', `/api/v1/users/${userId}/connections/polar`, 'text/plain'],
      ] as const) {
        const res = await call(method, path, { rawBody: '{"access_token": "token"}', contentType });
        expectError(res, 415);
        expect(res.body, `${method} ${path} ${contentType}`).toEqual({ detail: 'Content-Type must be application/json' });
      }
      const { body: connections } = await call('get', `/api/v1/users/${userId}/connections`);
      expect(connections).toEqual([]);
      await expectStillServing();
    });
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
      const keyIds: Record<string, string> = {};
      for (const scope of ['read', 'write', 'admin'] as const) {
        const created = await createKey([scope]);
        keys[scope] = created.key;
        keyIds[scope] = created.id;
        secrets.push(created.key);
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
        const res = await call(method, path, { key, body });
        expect(res.status, `${method.toUpperCase()} ${path}: ${res.text}`).toBe(status);
      }
      // Malformed JSON around a token, which a parser error message could quote.
      const malformedToken = token('access');
      const malformed = await call('put', `/api/v1/users/${randomUUID()}/connections/garmin`, {
        key: keys.write,
        rawBody: `{"access_token": "${malformedToken}" x}`,
      });
      expect(malformed.status).toBe(400);
      // Revoking a key, then trying it.
      expect((await call('get', '/api/v1/api-keys', { key: admin })).status).toBe(200);
      expect((await call('delete', `/api/v1/api-keys/${keyIds.read}`, { key: admin })).status).toBe(204);
      expect((await call('get', '/api/v1/users', { key: keys.read })).status).toBe(401);

      // Every request above has been logged by now.
      const last = await call('get', `/api/v1/users/${randomUUID()}`, { key: admin });
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
        const res = await call('put', `/api/v1/users/${randomUUID()}/connections/garmin`, { rawBody: body });
        expectError(res, 400);
        expect(res.text).not.toContain(secret);
        expect(res.text).not.toContain(secret.slice(0, 16));
      }
    });

    it('writes request log lines as JSON with a req.id equal to the response’s X-Request-Id', async () => {
      const path = `/api/v1/users/${randomUUID()}`;
      const res = await call('get', path);
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
      for (let i = 0; i < 5; i++) ids.add((await call('get', '/api/v1/users')).headers['x-request-id']);
      ids.add((await request(t.server).get('/health/live')).headers['x-request-id']);
      ids.add((await call('get', '/api/v1/users', { key: null })).headers['x-request-id']);
      expect(ids.size).toBe(7);
      for (const id of ids) expect(id).toMatch(UUID);
    });

    it('echoes a sane incoming X-Request-Id and logs the request under it', async () => {
      const incoming = `client-${randomUUID()}`;
      const path = `/api/v1/users/${randomUUID()}`;
      const res = await call('get', path, { headers: { 'X-Request-Id': incoming } });
      expect(res.status).toBe(404);
      expect(res.headers['x-request-id']).toBe(incoming);
      const entry = await requestLine((e) => e.req?.url === path);
      expect(entry?.req.id).toBe(incoming);
    });

    it('redacts the values of sensitive query parameters in the request line, keeping the others', async () => {
      const secret = `SECRET-${randomUUID()}`;
      const code = `C-${randomUUID()}`;
      const state = `S-${randomUUID()}`;
      const token = providerToken('access');
      const values = [secret, code, state, token];
      const query = `api_key=${secret}&code=${code}&state=${state}&foo=bar&Access_Token=${token}&limit=5`;
      for (const [path, status] of [
        ['/api/v1/users', 200],
        [`/no-such-route-${randomUUID()}`, 404],
      ] as const) {
        const res = await call('get', `${path}?${query}`);
        expect(res.status, res.text).toBe(status);
        const entry = await requestLine((e) => e.req?.id === res.headers['x-request-id']);
        expect(entry, `no log line for ${path}`).toBeDefined();
        expect(entry!.req.url).toBe(
          `${path}?api_key=[redacted]&code=[redacted]&state=[redacted]&foo=bar&Access_Token=[redacted]&limit=5`,
        );
      }
      for (const line of t.logs) for (const value of values) expect(line, `a log line holds ${value}`).not.toContain(value);
    });

    it('answers an unknown route with a 404 that names the path but never echoes the query string', async () => {
      const secret = `SECRET-${randomUUID()}`;
      const path = `/no-such-route-${randomUUID()}`;
      for (const method of ['get', 'post', 'delete'] as const) {
        const res = await call(method, `${path}?api_key=${secret}&foo=bar`);
        expectError(res, 404, `Route ${method.toUpperCase()} ${path} not found`);
        expect(res.text).not.toContain(secret);
        expect(res.text).not.toContain('?');
        expect(res.text).not.toContain('foo=bar');
      }
      // The same for a path under the API's prefix, and without a key.
      const unauthenticated = await call('get', `/api/v1/nothing-here?token=${secret}`, { key: null });
      expect(unauthenticated.status).toBe(404);
      expect(unauthenticated.text).not.toContain(secret);
    });

    for (const { name, id } of [
      { name: 'one with spaces and markup', id: () => `bad id <script>${randomUUID()}</script>` },
      { name: 'one over 64 characters', id: () => `long-${randomUUID()}-${randomUUID()}` },
      { name: 'one with a JSON-breaking quote', id: () => `quote"${randomUUID()}` },
    ]) {
      it(`replaces an unsafe incoming X-Request-Id (${name}) with a generated one`, async () => {
        const incoming = id();
        const path = `/api/v1/users/${randomUUID()}`;
        const res = await call('get', path, { headers: { 'X-Request-Id': incoming } });
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
  const { call, createKey } = httpHelpers(() => t);
  beforeAll(async () => {
    t = await startTestApp({ authFailureLimitPerMinute: 5, rateLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('blocks an address after repeated wrong keys: 429 with Retry-After and {"detail"} for wrong and missing keys, while a valid key is still admitted', async () => {
    // Successful requests do not count as failures.
    for (let i = 0; i < 10; i++) expect((await call('get', '/api/v1/users')).status).toBe(200);

    let blocked: request.Response | undefined;
    const seen: number[] = [];
    for (let attempt = 1; attempt <= 6 && !blocked; attempt++) {
      const wrong = attempt % 2 === 0 ? `wck_${randomBytes(32).toString('base64url')}` : null;
      const res = await call('get', '/api/v1/users', { key: wrong });
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

    // Many clients may share the address (NAT, a load balancer): a valid key is admitted, on any route,
    // while the block holds for every wrong or missing key.
    for (const [method, path, status] of [
      ['get', '/api/v1/users', 200],
      ['get', '/api/v1/api-keys', 200],
      ['post', '/api/v1/users', 201],
    ] as const) {
      const body = method === 'post' ? { id: randomUUID() } : undefined;
      const admitted = await call(method, path, { body });
      expect(admitted.status, `${method} ${path} with the valid key: ${admitted.text}`).toBe(status);
      for (const wrong of [`wck_${randomBytes(32).toString('base64url')}`, null, 'short']) {
        const res = await call(method, path, { key: wrong, body });
        expectError(res, 429, 'failed authentication');
        expect(res.headers['retry-after']).toMatch(POSITIVE_INTEGER);
      }
    }
    // A key created after the block (so never cached) is admitted too, and a revoked one is refused with 429.
    const created = await createKey(['read']);
    expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);
    expect((await call('delete', `/api/v1/api-keys/${created.id}`)).status).toBe(204);
    expectError(await call('get', '/api/v1/users', { key: created.key }), 429);
    // The block is on authentication, not on the public liveness probe.
    expect((await request(t.server).get('/health/live')).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Behind a proxy: TRUST_PROXY=1
// ---------------------------------------------------------------------------------------------

describe('behind one trusted proxy (TRUST_PROXY=1)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ trustProxy: 1, authFailureLimitPerMinute: 3, rateLimitPerMinute: 1_000_000 }, addClientAddressRoute);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A request as the proxy forwards it: what the client sent as X-Forwarded-For, then the address the proxy saw. */
  function viaProxy(clientSent: string | null, clientAddress: string, key: string | null) {
    let req = request(t.server).get('/api/v1/users');
    req = req.set('X-Forwarded-For', clientSent === null ? clientAddress : `${clientSent}, ${clientAddress}`);
    if (key !== null) req = req.set('X-API-Key', key);
    return req;
  }

  async function clientAddress(forwardedFor?: string): Promise<string> {
    let req = request(t.server).get('/test/client-address');
    if (forwardedFor !== undefined) req = req.set('X-Forwarded-For', forwardedFor);
    const res = await req;
    expect(res.status, res.text).toBe(200);
    return res.body.ip;
  }

  it('takes the client address from the hop the proxy added (the rightmost), not from what the client wrote', async () => {
    expect(await clientAddress('6.6.6.6, 7.7.7.7, 203.0.113.7')).toBe('203.0.113.7');
    expect(await clientAddress('6.6.6.6,203.0.113.7')).toBe('203.0.113.7');
    expect(await clientAddress('203.0.113.8')).toBe('203.0.113.8');
    // Without the header, the connecting address (this test's loopback) is the client's.
    expect(await clientAddress()).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  it('blocks the real address whatever leftmost X-Forwarded-For the client rotates, and blocks no address the client names', async () => {
    const named = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'];
    const statuses: number[] = [];
    for (const spoofed of named) statuses.push((await viaProxy(spoofed, '203.0.113.10', 'wck_wrong-key-0123456789')).status);
    // The limit is 3: the fourth failure from 203.0.113.10 is blocked, although each named another address.
    expect(statuses).toEqual([401, 401, 401, 429]);
    const again = await viaProxy(`10.9.8.7, ${randomUUID()}`, '203.0.113.10', null);
    expectError(again, 429, 'failed authentication');

    // The addresses it named are not blocked: their own clients get a 401 for a wrong key, not a 429.
    for (const address of named) {
      expectError(await viaProxy(null, address, 'wck_wrong-key-0123456789'), 401);
    }
    // Nor is another client behind the same proxy, even one that names the blocked address.
    expectError(await viaProxy('203.0.113.10', '203.0.113.11', null), 401);
    // And a valid key from the blocked address is admitted.
    expect((await viaProxy('198.51.100.9', '203.0.113.10', ADMIN_KEY)).status).toBe(200);
  });

  it('keeps the counter of a huge forwarded address short, and counts two huge addresses apart', async () => {
    const storage = t.app.get<MemoryRateLimitStorage>(RATE_LIMIT_STORAGE);
    expect(storage).toBeInstanceOf(MemoryRateLimitStorage);
    const common = 'f'.repeat(12 * 1024);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await viaProxy(null, `${common}-a`, null)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    // The same first 12 KiB, another address: counted on its own.
    expectError(await viaProxy(null, `${common}-b`, null), 401);
    for (let i = 0; i < 20; i++) expectError(await viaProxy(null, `${randomBytes(7 * 1024).toString('hex')}`, null), 401);
    const keys = [...storage.keys()];
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) expect(key.length, key.slice(0, 80)).toBeLessThanOrEqual(MAX_STORED_KEY_LENGTH);
    expect((await request(t.server).get('/health/live')).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Requests that never finish arriving
// ---------------------------------------------------------------------------------------------

describe('request timeout (REQUEST_TIMEOUT_MS=500)', () => {
  let t: TestApp;
  const { call } = httpHelpers(() => t);
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ requestTimeoutMs: 500 });
    await t.app.listen(0, '127.0.0.1');
    port = (t.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
  });

  /**
   * Sends `text` and then nothing more, on `connections` connections at once; what each received
   * before the server closed it. A connection the server leaves open fails the test (after 10 s).
   */
  function stall(text: string, connections = 1): Promise<string[]> {
    return Promise.all(Array.from({ length: connections }, () => rawHttp(port, text)));
  }

  it('answers a body that stops arriving with 408 {"detail"} and closes the connection, no key needed', async () => {
    const [raw] = await stall(
      'POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"id":',
    );
    const res = parseRawResponse(raw);
    expect(res.status, raw.slice(0, 300)).toBe(408);
    expect(JSON.parse(res.body)).toEqual({ detail: expect.any(String) });
  });

  it('closes every one of many stalled connections, and keeps serving', async () => {
    const raws = await stall(
      `PUT /api/v1/users/${randomUUID()}/connections/garmin HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
      50,
    );
    for (const raw of raws) expect(raw === '' || parseRawResponse(raw).status === 408, raw.slice(0, 300)).toBe(true);
    expect((await call('get', '/api/v1/users')).status).toBe(200);
  });

  it('bounds headers the same way: headers that stop arriving get 408', async () => {
    const [raw] = await stall(`GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\n`);
    expect(raw === '' || parseRawResponse(raw).status === 408, raw.slice(0, 300)).toBe(true);
    // A connection that sends nothing at all is closed too.
    const [silent] = await stall('');
    expect(silent === '' || parseRawResponse(silent).status === 408, silent.slice(0, 300)).toBe(true);
  });

  it('still serves a request whose body arrives in time, in pieces', async () => {
    const id = randomUUID();
    const body = JSON.stringify({ id });
    const raw = await rawHttp(
      port,
      `POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      body,
    );
    expect(parseRawResponse(raw).status, raw.slice(0, 300)).toBe(201);
  });

  it('leaves an idle keep-alive connection alone: only a request under way is timed', async () => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    const answers = async (count: number) => {
      for (let i = 0; i < 200 && (received.match(/HTTP\/1\.1 /g) ?? []).length < count; i++) await sleep(20);
      return (received.match(/HTTP\/1\.1 (\d{3})/g) ?? []).map((line) => Number(line.slice(9)));
    };
    try {
      await new Promise((done) => socket.once('connect', done));
      socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      expect(await answers(1)).toEqual([200]);
      // Idle for three times REQUEST_TIMEOUT_MS, then a second request on the same connection.
      await sleep(1_500);
      expect(socket.destroyed).toBe(false);
      socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      expect(await answers(2)).toEqual([200, 200]);
    } finally {
      socket.destroy();
    }
  });
});

describe('redactUrl', () => {
  it('returns a URL without a query as it is', () => {
    for (const url of ['/', '/api/v1/users', '/api/v1/users/550e8400-e29b-41d4-a716-446655440000/connections']) {
      expect(redactUrl(url)).toBe(url);
    }
  });

  it('redacts every required name, in any case or percent-encoding, and keeps everything else as sent', () => {
    const names = ['api_key', 'key', 'token', 'access_token', 'refresh_token', 'code', 'state', 'secret', 'password'];
    for (const name of names) {
      expect(redactUrl(`/x?${name}=v%20w&keep=1`), name).toBe(`/x?${name}=[redacted]&keep=1`);
      expect(redactUrl(`/x?keep=1&${name.toUpperCase()}=v`), name).toBe(`/x?keep=1&${name.toUpperCase()}=[redacted]`);
    }
    expect(redactUrl('/x?api%5Fkey=s&client_secret=s2&id_token=t&x-api-key=k')).toBe(
      '/x?api%5Fkey=[redacted]&client_secret=[redacted]&id_token=[redacted]&x-api-key=[redacted]',
    );
    expect(redactUrl('/x?code=a=b=c&status=active&&provider=garmin&flag')).toBe('/x?code=[redacted]&status=active&&provider=garmin&flag');
    expect(redactUrl('/x?cursor=abc&limit=50')).toBe('/x?cursor=abc&limit=50');
    expect(redactUrl('/x?%E0%A4%A=1&token=%ZZ')).toBe('/x?%E0%A4%A=1&token=[redacted]');
  });

  it('redacts a connect link’s token by the route Fastify matched, however the path spelled it, and any path segment shaped like a 256-bit secret', () => {
    const token = randomBytes(32).toString('base64url');
    // Routed: the segment of the route's :token, whatever its spelling.
    expect(redactUrl(`/%63onnect/${token}`, '/connect/:token')).toBe('/%63onnect/[redacted]');
    expect(redactUrl(`/%63onnect/short/strava?x=1`, '/connect/:token/:provider')).toBe('/%63onnect/[redacted]/strava?x=1');
    expect(redactUrl(`/connect/${token}/`, '/connect/:token')).toBe('/connect/[redacted]/');
    expect(redactUrl('/oauth/strava/callback?state=s', '/oauth/:provider/callback')).toBe('/oauth/strava/callback?state=[redacted]');
    // Not routed: a connect link in any case, and anything shaped like a secret, as sent or %-encoded.
    for (const [url, redacted] of [
      [`//connect/${token}`, '//connect/[redacted]'],
      [`/CONNECT/${token}`, '/connect/[redacted]'],
      [`/Connect/short/strava/extra`, '/connect/[redacted]/strava/extra'],
      [`/x/${token}/y?limit=1`, '/x/[redacted]/y?limit=1'],
      [`/x/${token}.json`, '/x/[redacted]'],
      // Every fourth character %-escaped: no run of 43 as sent, the token once decoded.
      [`/x/${token.replace(/(.)(...)?/g, (_, first: string, rest = '') => `%${first.charCodeAt(0).toString(16)}${rest}`)}`, '/x/[redacted]'],
      [`/x/%ZZ%${token}`, '/x/[redacted]'],
    ]) {
      expect(redactUrl(url), url).toBe(redacted);
    }
    // A UUID, a provider, an ordinary path, a run of base64url characters longer than a secret: as sent.
    for (const url of [
      '/api/v1/users/550e8400-e29b-41d4-a716-446655440000/connections/strava',
      '/no-such-route-550e8400-e29b-41d4-a716-446655440000',
      '/connectx/abc',
      '/x/%20y',
    ]) {
      expect(redactUrl(url)).toBe(url);
    }
  });
});

describe('behind proxies named by address (TRUST_PROXY=10.0.0.0/8,loopback)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ trustProxy: ['10.0.0.0/8', 'loopback'] }, addClientAddressRoute);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('skips the trusted proxies from the right and takes the first address that is not one', async () => {
    const ip = async (forwardedFor: string) => (await request(t.server).get('/test/client-address').set('X-Forwarded-For', forwardedFor)).body.ip;
    expect(await ip('6.6.6.6, 203.0.113.7, 10.1.2.3')).toBe('203.0.113.7');
    expect(await ip('6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
    expect(await ip('6.6.6.6, 203.0.113.7, 10.1.2.3, 10.200.0.1')).toBe('203.0.113.7');
  });
});

describe('per-key rate limit (10 per minute)', () => {
  let t: TestApp;
  const { call } = httpHelpers(() => t);
  beforeAll(async () => {
    t = await startTestApp({ rateLimitPerMinute: 10, authFailureLimitPerMinute: 1_000_000 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers the 11th request of a valid key with 429, Retry-After and {"detail"}, counting every route; /health/live stays unlimited', async () => {
    const paths = ['/api/v1/users', '/api/v1/api-keys'];
    for (let i = 0; i < 10; i++) {
      const res = await call('get', paths[i % 2]);
      expect(res.status, `request ${i + 1}: ${res.text}`).toBe(200);
    }
    const eleventh = await call('get', '/api/v1/users');
    expectError(eleventh, 429);
    expect(eleventh.headers['retry-after']).toMatch(POSITIVE_INTEGER);

    const twelfth = await call('post', '/api/v1/users', { body: { id: randomUUID() } });
    expectError(twelfth, 429);

    for (let i = 0; i < 15; i++) {
      const live = await request(t.server).get('/health/live');
      expect(live.status).toBe(200);
    }
  });
});
