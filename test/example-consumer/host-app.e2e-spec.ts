/**
 * Another team's application gets every safety net from the one import the README tells it to write
 * (WearableConnectionsModule.forRoot(), beside its own modules, on a plain FastifyAdapter): the
 * security headers, the body rules, the @Exclude() net, the request log, the error shape, the API-key
 * guard with the bootstrap key registered at start-up, and the very ConnectionsService its HTTP
 * routes use. Nothing here is wired by hand: startConsumerApp() registers no hook and no key.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityHeaders } from '../../src/common/security-headers.js';
import { Connection } from '../../src/connections/connection.entity.js';
import { ConnectionsController } from '../../src/connections/connections.controller.js';
import { httpHelpers } from '../support/http-helpers.js';
import { TOKEN_KEY } from '../support/test-app.js';
import { CONSUMER_ADMIN_KEY, CONSUMER_TOKEN_KEY, type ConsumerApp, startConsumerApp } from './support.js';

const ACCESS_TOKEN = `host-access-${randomUUID()}`;
const REFRESH_TOKEN = `host-refresh-${randomUUID()}`;

/** An entity holding tokens, as a careless route of the host application might answer with. */
function entityWithTokens(): Connection {
  return Object.assign(new Connection(), {
    id: randomUUID(),
    userId: randomUUID(),
    provider: 'strava',
    providerUserId: 'host-1',
    status: 'active',
    accessToken: ACCESS_TOKEN,
    refreshToken: REFRESH_TOKEN,
    tokenExpiresAt: new Date('2030-01-01T00:00:00Z'),
    tokenVersion: 1,
  });
}

let t: ConsumerApp;
let server: import('node:http').Server;
const { call } = httpHelpers(() => ({ server }), CONSUMER_ADMIN_KEY);

beforeAll(async () => {
  // A route of the host's own, added to its Fastify instance: it answers with an entity.
  t = await startConsumerApp(undefined, (app) => {
    app.getHttpAdapter().getInstance().get('/host/entity', async () => entityWithTokens());
  });
  server = t.app.getHttpServer();
});

afterAll(async () => {
  await t?.close();
});

/** The request line logged for the request with this id, once it is written (bounded wait). */
async function requestLine(id: string): Promise<Record<string, any> | undefined> {
  for (let i = 0; i < 100; i++) {
    for (const line of t.logs) {
      const entry = JSON.parse(line) as Record<string, any>;
      if (entry.req?.id === id && entry.res) return entry;
    }
    await sleep(20);
  }
  return undefined;
}

function expectSecurityHeaders(res: request.Response): void {
  const expected = securityHeaders();
  expect(Object.keys(expected).length).toBeGreaterThanOrEqual(7);
  for (const [name, value] of Object.entries(expected)) expect(res.headers[name], name).toBe(value);
  expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
  expect(res.headers['x-request-id']).toBeTruthy();
}

describe('a host application that imports WearableConnectionsModule.forRoot()', () => {
  it('answers 401 in the API’s error shape without a key, and with a wrong one', async () => {
    for (const key of [null, `wck_${randomUUID()}`]) {
      const res = await call('get', '/api/v1/users', { key });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ detail: 'Invalid or missing API key' });
      expectSecurityHeaders(res);
    }
  });

  it('admits the bootstrap key, which the module registered at start-up as an admin key', async () => {
    const users = await call('get', '/api/v1/users');
    expect(users.status, users.text).toBe(200);
    expect(users.body).toEqual({ data: [], next_cursor: null });
    // Admin scope: it may list the keys, and the only key there is the one BOOTSTRAP_API_KEY named.
    const keys = await call('get', '/api/v1/api-keys');
    expect(keys.status, keys.text).toBe(200);
    const listed = Array.isArray(keys.body) ? keys.body : keys.body.data;
    expect(listed).toHaveLength(1);
    expect(listed[0].scopes).toEqual(['admin']);
    expect(keys.text).not.toContain(CONSUMER_ADMIN_KEY);
  });

  it('puts the security headers and an X-Request-Id on the API’s answers', async () => {
    const res = await call('get', `/api/v1/users/${randomUUID()}/connections`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'User not found' });
    expectSecurityHeaders(res);
  });

  it('strips @Exclude()d fields (the tokens) from an entity that reaches a response, on a route of the host’s own', async () => {
    const res = await call('get', '/host/entity', { key: null });
    expect(res.status, res.text).toBe(200);
    expect(res.text).not.toContain(ACCESS_TOKEN);
    expect(res.text).not.toContain(REFRESH_TOKEN);
    for (const field of ['accessToken', 'refreshToken', 'tokenExpiresAt', 'tokenVersion']) expect(res.body).not.toHaveProperty(field);
    expect(res.body).toMatchObject({ provider: 'strava', providerUserId: 'host-1', status: 'active' });
  });

  it('writes one request line per request, with its id, method, URL and status, and no key', async () => {
    const path = `/api/v1/users/${randomUUID()}`;
    const res = await call('get', path);
    expect(res.status).toBe(404);
    const entry = await requestLine(res.headers['x-request-id']);
    expect(entry, `no request line for ${path}`).toBeDefined();
    expect(entry).toMatchObject({ msg: 'request completed', req: { method: 'GET', url: path }, res: { statusCode: 404 } });
    expect(typeof entry!.responseTime).toBe('number');
    const secrets = [CONSUMER_ADMIN_KEY, ACCESS_TOKEN, REFRESH_TOKEN, CONSUMER_TOKEN_KEY.toString('base64'), TOKEN_KEY.toString('base64')];
    for (const line of t.logs) for (const secret of secrets) expect(line, 'a log line holds a secret').not.toContain(secret);
  });

  it('applies the body rules: JSON objects only, not too deep, an empty JSON body is no body', async () => {
    const userId = randomUUID();
    const url = `/api/v1/users/${userId}/connections/garmin`;
    const text = await call('put', url, { rawBody: 'access_token=x', contentType: 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body).toEqual({ detail: 'Content-Type must be application/json' });
    const form = await call('put', url, { rawBody: 'access_token=x', contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { a: deep };
    const nested = await call('put', url, { body: { access_token: 'x', scope: deep } });
    expect(nested.status).toBe(400);
    expect(nested.body).toEqual({ detail: 'The request body is nested too deeply' });
    // An empty body sent as JSON is no body.
    const created = await call('post', '/api/v1/users', { rawBody: '' });
    expect(created.status, created.text).toBe(201);
    const deleted = await call('delete', `/api/v1/users/${created.body.id}`, { rawBody: '' });
    expect(deleted.status, deleted.text).toBe(204);
  });

  it('answers an unknown route in the API’s error shape, without echoing its query', async () => {
    const res = await call('get', '/no/such/route?api_key=secret-in-query');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Route GET /no/such/route not found' });
    expectSecurityHeaders(res);
  });

  it('gives the host’s own provider the ConnectionsService instance the HTTP routes use', () => {
    const controller = t.app.get(ConnectionsController);
    expect(Object.values(controller)).toContain(t.worker.connections);
  });
});
