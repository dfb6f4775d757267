/**
 * What the fast response path keeps: @Exclude() applied to any entity that reaches a response (the
 * safety net behind the toXResponse() mappers), and times read from PostgreSQL as UTC text written
 * exactly as a Date would be. (Its security headers are checked in security.e2e-spec.ts.)
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpExceptionFilter } from '../src/common/http-exception.filter.js';
import { isoTime, isoTimeFromUtcText } from '../src/common/iso-time.js';
import { Connection } from '../src/connections/connection.entity.js';
import { User } from '../src/users/user.entity.js';
import { httpHelpers, keysContainingToken } from './support/http-helpers.js';
import { startTestApp, type TestApp } from './support/test-app.js';

const ACCESS_TOKEN = `access-${randomUUID()}`;
const REFRESH_TOKEN = `refresh-${randomUUID()}`;

function entity(): Connection {
  return Object.assign(new Connection(), {
    id: randomUUID(),
    userId: randomUUID(),
    provider: 'garmin',
    providerUserId: 'g-1',
    providerUsername: null,
    scope: 'activity:read',
    status: 'active',
    statusReason: null,
    accessToken: ACCESS_TOKEN,
    refreshToken: REFRESH_TOKEN,
    tokenExpiresAt: new Date('2030-01-01T00:00:00Z'),
    tokenVersion: 3,
    lastSyncedAt: new Date('2024-03-15T10:30:00Z'),
    createdAt: new Date('2024-01-01T00:00:00Z'),
    updatedAt: new Date('2024-01-02T00:00:00Z'),
  });
}

const EXCLUDED = ['accessToken', 'refreshToken', 'tokenExpiresAt', 'tokenVersion'];

let t: TestApp;
const { token, call, createUser, putConnection } = httpHelpers(() => t);
beforeAll(async () => {
  // Routes that hand entities to the response, as a careless handler would; they go through the
  // application's hooks like every other response.
  t = await startTestApp({}, (app) => {
    const fastify = app.getHttpAdapter().getInstance();
    fastify.get('/test/entity', async () => entity());
    fastify.get('/test/entities', async () => [entity(), entity()]);
    fastify.get('/test/wrapped', async () => ({ page: 1, items: [entity()], owner: Object.assign(new User(), { id: randomUUID() }) }));
    fastify.get('/test/plain', async () => ({ nested: { list: [1, 'two', null, { three: 3 }] } }));
  });
});
afterAll(async () => {
  await t?.close();
});

describe('@Exclude() on any response', () => {
  for (const path of ['/test/entity', '/test/entities', '/test/wrapped']) {
    it(`keeps the excluded fields out of ${path}, and the rest in`, async () => {
      const res = await request(t.server).get(path);
      expect(res.status, res.text).toBe(200);
      expect(res.text).not.toContain(ACCESS_TOKEN);
      expect(res.text).not.toContain(REFRESH_TOKEN);
      expect(keysContainingToken(res.body)).toEqual([]);
      const connections: Record<string, unknown>[] = path === '/test/entity' ? [res.body] : path === '/test/entities' ? res.body : res.body.items;
      expect(connections.length).toBeGreaterThan(0);
      for (const connection of connections) {
        for (const field of EXCLUDED) expect(connection).not.toHaveProperty(field);
        expect(connection).toMatchObject({ provider: 'garmin', providerUserId: 'g-1', scope: 'activity:read', status: 'active' });
        expect(connection.lastSyncedAt).toBe('2024-03-15T10:30:00.000Z');
      }
    });
  }

  it('passes plain data through unchanged', async () => {
    const res = await request(t.server).get('/test/plain');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ nested: { list: [1, 'two', null, { three: 3 }] } });
  });
});

describe('logs without a per-request context', () => {
  it('writes a 5xx error line with the id of the request it failed', async () => {
    const id = `req-${randomUUID()}`;
    const sent: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
    const reply = {
      header(name: string, value: string) {
        sent.headers[name] = value;
        return reply;
      },
      status(code: number) {
        sent.status = code;
        return reply;
      },
      send(body: unknown) {
        sent.body = body;
      },
    };
    const host = { switchToHttp: () => ({ getResponse: () => reply, getRequest: () => ({ id }) }) };
    new HttpExceptionFilter().catch(new Error(`boom ${id}`), host as never);
    expect(sent.status).toBe(500);
    expect(sent.body).toEqual({ detail: 'Internal server error' });
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.reqId === id);
    expect(line, 'no error line with the request id').toBeDefined();
    expect(line!.level).toBe(50);
    expect(String(line!.msg)).toContain(`500 Error: boom ${id}`);
  });
});

describe('times read as UTC text', () => {
  it('writes each instant as isoTime() writes the Date pg makes of it, for every precision PostgreSQL keeps', async () => {
    const instants = [
      '2024-03-15 10:30:00+00',
      '2024-03-15 10:30:00.5+00',
      '2024-03-15 10:30:00.05+00',
      '2024-03-15 10:30:00.25+00',
      '2024-03-15 10:30:00.999999+00',
      '2024-03-15 10:30:00.000999+00',
      '2024-03-15 10:30:00.001+00',
      '2024-03-15 10:30:00.123456+00',
      '2024-03-15 23:59:59.9999+05:30',
      '2024-02-29 00:00:00-08',
      '0001-01-01 00:00:00+00',
      '0999-12-31 23:59:59.5+00',
      '9999-12-31 23:59:59.999999+00',
      '1970-01-01 00:00:00+00',
      '1969-12-31 23:59:59.999+00',
    ];
    // Plus a spread of random microsecond instants across the years the API accepts.
    for (let i = 0; i < 200; i++) {
      const ms = Math.floor(Math.random() * (253402300799999 + 62135596800000)) - 62135596800000;
      const micros = String(Math.floor(Math.random() * 1000)).padStart(3, '0');
      instants.push(`${new Date(ms).toISOString().slice(0, 23)}${micros}+00`);
    }
    // ::text of the timestamp is what the server sends for it; the timestamptz itself becomes a Date.
    const rows = await t.query<{ instant: Date; utc_text: string }>(
      `SELECT t AS instant, (t AT TIME ZONE 'UTC')::text AS utc_text FROM unnest($1::timestamptz[]) AS t`,
      [instants],
    );
    expect(rows).toHaveLength(instants.length);
    for (const row of rows) expect(isoTimeFromUtcText(row.utc_text), row.utc_text).toBe(isoTime(row.instant));
    expect(isoTimeFromUtcText(null)).toBeNull();
  });

  it('answers the list with the stored times, milliseconds written only when there are some', async () => {
    const { id: userId } = await createUser();
    const syncs: Record<string, string> = { garmin: '2024-03-15T10:30:00Z', strava: '2024-03-15T10:30:00.250Z', polar: '2024-03-15T10:30:00.007Z' };
    for (const [provider, at] of Object.entries(syncs)) {
      const res = await putConnection(userId, provider, { access_token: token('access'), last_synced_at: at });
      expect(res.status, res.text).toBe(201);
      expect(res.body.last_synced_at).toBe(at);
    }
    const list = await call('get', `/api/v1/users/${userId}/connections`);
    expect(list.status).toBe(200);
    const stored = await t.query<{ provider: string; created_at: Date; updated_at: Date }>(
      'SELECT provider, created_at, updated_at FROM connections WHERE user_id = $1',
      [userId],
    );
    expect(list.body).toHaveLength(3);
    for (const connection of list.body as Record<string, string>[]) {
      expect(connection.last_synced_at).toBe(syncs[connection.provider]);
      const row = stored.find((r) => r.provider === connection.provider)!;
      expect(connection.created_at).toBe(isoTime(row.created_at));
      expect(connection.updated_at).toBe(isoTime(row.updated_at));
      expect(connection.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
    }
  });
});
