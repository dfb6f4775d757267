import { randomUUID } from 'node:crypto';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONNECTION_EVENTS, type ConnectionEvent } from '../src/connections/connection.events.js';
import { DemoData } from '../src/connections/demo-data.js';
import { RevokedConnectionsHoldNoTokens1795510000001 } from '../src/database/migrations/1795510000001-RevokedConnectionsHoldNoTokens.js';
import { Sql } from '../src/database/sql.js';
import { startTestApp, type TestApp } from './support/test-app.js';
import { SPEC_EXAMPLE, SPEC_USER_ID } from './support/spec-example.js';
import { CONNECTION_KEYS, type ConnectionBody, INVALID_KEY_BODY, ISO_UTC, USER_NOT_FOUND_BODY, UUID } from './support/contract.js';
import { expectError, httpHelpers, keysContainingToken, storedTokens } from './support/http-helpers.js';

// ---------------------------------------------------------------------------------------------
// Harness helpers
// ---------------------------------------------------------------------------------------------

let t: TestApp;

const { token, call, createUser, putConnection } = httpHelpers(() => t);

function expectConnectionShape(row: ConnectionBody): void {
  expect(Object.keys(row).sort()).toEqual(CONNECTION_KEYS);
  expect(row.id).toMatch(UUID);
  expect(row.user_id).toMatch(UUID);
  expect(['active', 'revoked', 'expired']).toContain(row.status);
  expect(row.created_at).toMatch(ISO_UTC);
  expect(row.updated_at).toMatch(ISO_UTC);
  if (row.last_synced_at !== null) expect(row.last_synced_at).toMatch(ISO_UTC);
}

async function listConnections(userId: string, query = ''): Promise<ConnectionBody[]> {
  const res = await call('get', `/api/v1/users/${userId}/connections${query}`);
  expect(res.status, res.text).toBe(200);
  expect(Array.isArray(res.body)).toBe(true);
  return res.body as ConnectionBody[];
}

/** Races need concurrent sessions, which the embedded database (one session) does not have. */
const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

const PAST = '2020-01-01T00:00:00Z';
const FUTURE = '2999-01-01T00:00:00Z';

// ---------------------------------------------------------------------------------------------

describe('connections API', () => {
  beforeAll(async () => {
    t = await startTestApp({ demoData: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('authentication', () => {
    it('returns 401 with the exact body for a missing or wrong API key, even on an unknown user, and changes nothing', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);

      for (const key of [null, `wrong-${randomUUID()}`, 'not-a-real-key-at-all']) {
        const responses = [
          await call('get', `/api/v1/users/${userId}/connections`, { key }),
          await putConnection(userId, 'strava', { access_token: token('access') }, key),
          await call('delete', `/api/v1/users/${userId}/connections/garmin`, { key }),
          await call('get', `/api/v1/users/${randomUUID()}/connections`, { key }),
        ];
        for (const res of responses) {
          expect(res.status, `key ${key}`).toBe(401);
          expect(res.body).toEqual(INVALID_KEY_BODY);
        }
      }

      const rows = await listConnections(userId);
      expect(rows.map((c) => [c.provider, c.status])).toEqual([['garmin', 'active']]);
    });
  });

  describe('GET /api/v1/users/{user_id}/connections', () => {
    it("returns exactly the spec's example response for the demo user", async () => {
      const res = await call('get', `/api/v1/users/${SPEC_USER_ID}/connections`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual(SPEC_EXAMPLE);
    });

    it('loads the demo data once: with its user already there, a second load changes nothing', async () => {
      const before = await t.query('SELECT * FROM connections WHERE user_id = $1 ORDER BY id', [SPEC_USER_ID]);
      expect(before).toHaveLength(3);
      expect(await t.app.get(DemoData).load()).toBe(false);
      expect(await t.query('SELECT * FROM connections WHERE user_id = $1 ORDER BY id', [SPEC_USER_ID])).toEqual(before);
      expect((await call('get', `/api/v1/users/${SPEC_USER_ID}/connections`)).body).toEqual(SPEC_EXAMPLE);
    });

    it("filters the spec's example by status and by provider", async () => {
      expect(await listConnections(SPEC_USER_ID, '?status=expired')).toEqual([SPEC_EXAMPLE[2]]);
      expect(await listConnections(SPEC_USER_ID, '?status=active')).toEqual([SPEC_EXAMPLE[0], SPEC_EXAMPLE[1]]);
      expect(await listConnections(SPEC_USER_ID, '?status=revoked')).toEqual([]);
      expect(await listConnections(SPEC_USER_ID, '?provider=strava')).toEqual([SPEC_EXAMPLE[1]]);
      expect(await listConnections(SPEC_USER_ID, '?provider=whoop')).toEqual([]);
    });

    it('returns 404 User not found for an unknown user, with or without filters', async () => {
      for (const query of ['', '?status=active&provider=garmin']) {
        const res = await call('get', `/api/v1/users/${randomUUID()}/connections${query}`);
        expect(res.status, query).toBe(404);
        expect(res.body).toEqual(USER_NOT_FOUND_BODY);
      }
    });

    it('answers with one database round trip, one named (prepared) statement, filtered or not', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      await listConnections(userId); // the API key is cached from here on
      const sql = t.app.get(Sql);
      const pool = (t.app.get(DataSource).driver as PostgresDriver).master as Pool;
      const statements = vi.spyOn(sql, 'rows');
      const checkouts = vi.spyOn(pool, 'connect');
      try {
        expect(await listConnections(userId)).toHaveLength(1);
        expect(statements.mock.calls.map((call) => call[2])).toEqual(['connections_list_for_user']);
        expect(checkouts).toHaveBeenCalledTimes(1);
        expect(await listConnections(userId, '?status=active&provider=garmin')).toHaveLength(1);
        expect(statements.mock.calls.map((call) => call[2])).toEqual(['connections_list_for_user', 'connections_list_for_user_filtered']);
        expect(checkouts).toHaveBeenCalledTimes(2);
      } finally {
        statements.mockRestore();
        checkouts.mockRestore();
      }
    });

    it('returns 200 [] for a user with no connections', async () => {
      const { id: userId } = await createUser();
      const res = await call('get', `/api/v1/users/${userId}/connections`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([]);
    });

    it('returns 200 [] (not 404) when filters match none of an existing user’s connections', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect(await listConnections(userId, '?status=revoked')).toEqual([]);
      expect(await listConnections(userId, '?provider=strava')).toEqual([]);
    });

    it.each(['not-a-uuid', '12345', '550e8400-e29b-41d4-a716-44665544000z'])(
      'returns 400 naming user_id and UUID for the user_id %s',
      async (badId) => {
        const res = await call('get', `/api/v1/users/${badId}/connections`);
        expectError(res, 400, 'user_id', /uuid/i);
      },
    );

    it('returns rows with exactly the spec’s keys, null for absent values and times in UTC ending in Z', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'oura', { access_token: token('access') })).status).toBe(201);
      const [row] = await listConnections(userId);
      expectConnectionShape(row);
      expect(row).toMatchObject({
        user_id: userId,
        provider: 'oura',
        provider_user_id: null,
        provider_username: null,
        scope: null,
        status: 'active',
        last_synced_at: null,
      });
    });

    it('returns RFC 3339 times given with an offset, with or without a fraction, in UTC ending in Z', async () => {
      for (const [given, inUtc] of [
        ['2024-02-01T12:00:00+02:00', '2024-02-01T10:00:00Z'],
        ['2024-03-15T12:30:00.250+02:00', '2024-03-15T10:30:00.250Z'],
      ]) {
        const { id: userId } = await createUser();
        const put = await putConnection(userId, 'suunto', { access_token: token('access'), last_synced_at: given });
        expect(put.status, given).toBe(201);
        expect(put.body.last_synced_at).toBe(inUtc);
        const [row] = await listConnections(userId);
        expect(row.last_synced_at).toBe(inUtc);
      }
    });

    it('orders most recently synced first, never-synced last, ties by provider name ascending', async () => {
      const { id: userId } = await createUser();
      // Sent in an order that matches none of the expected orderings.
      const grants: [string, string | null][] = [
        ['whoop', null],
        ['strava', '2024-03-01T10:00:00Z'],
        ['garmin', '2024-01-01T00:00:00Z'],
        ['coros', null],
        ['polar', '2024-03-01T12:00:00+02:00'], // the same instant as strava's
        ['oura', '2024-02-01T00:00:00Z'],
        ['fitbit', '2024-03-02T00:00:00Z'],
      ];
      for (const [provider, lastSyncedAt] of grants) {
        const body: Record<string, unknown> = { access_token: token('access') };
        if (lastSyncedAt) body.last_synced_at = lastSyncedAt;
        expect((await putConnection(userId, provider, body)).status).toBe(201);
      }
      const rows = await listConnections(userId);
      expect(rows.map((c) => c.provider)).toEqual(['fitbit', 'polar', 'strava', 'oura', 'garmin', 'coros', 'whoop']);
      rows.forEach(expectConnectionShape);
    });

    it('filters by ?status=active, revoked and expired', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(userId, 'strava', { access_token: token('access'), status: 'revoked' })).status).toBe(201);
      expect((await putConnection(userId, 'polar', { access_token: token('access'), status: 'expired' })).status).toBe(201);
      expect((await putConnection(userId, 'suunto', { access_token: token('access') })).status).toBe(201);
      expect((await call('delete', `/api/v1/users/${userId}/connections/suunto`)).status).toBe(204);

      const providers = async (query: string) => (await listConnections(userId, query)).map((c) => c.provider).sort();
      expect(await providers('?status=active')).toEqual(['garmin']);
      expect(await providers('?status=revoked')).toEqual(['strava', 'suunto']);
      expect(await providers('?status=expired')).toEqual(['polar']);
      expect(await providers('')).toEqual(['garmin', 'polar', 'strava', 'suunto']);
    });

    it('filters by ?provider, alone and together with ?status', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(userId, 'withings', { access_token: token('access'), status: 'revoked' })).status).toBe(201);

      const withings = await listConnections(userId, '?provider=withings');
      expect(withings.map((c) => [c.provider, c.status])).toEqual([['withings', 'revoked']]);
      expect(await listConnections(userId, '?provider=withings&status=revoked')).toEqual(withings);
      expect(await listConnections(userId, '?provider=withings&status=active')).toEqual([]);
      expect(await listConnections(userId, '?provider=coros')).toEqual([]);
    });

    it.each(['bogus', 'deleted'])('returns 400 naming status for ?status=%s', async (value) => {
      const { id: userId } = await createUser();
      const res = await call('get', `/api/v1/users/${userId}/connections?status=${encodeURIComponent(value)}`);
      expectError(res, 400, 'status');
    });

    it.each(['nokia', 'apple'])('returns 400 naming provider for ?provider=%s', async (value) => {
      const { id: userId } = await createUser();
      const res = await call('get', `/api/v1/users/${userId}/connections?provider=${encodeURIComponent(value)}`);
      expectError(res, 400, 'provider');
    });

    it('accepts every provider of the contract as a filter', async () => {
      const { id: userId } = await createUser();
      for (const provider of ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings', 'coros']) {
        const res = await call('get', `/api/v1/users/${userId}/connections?provider=${provider}`);
        expect(res.status, `${provider}: ${res.text}`).toBe(200);
        expect(res.body).toEqual([]);
      }
    });

    it('ignores unknown query parameters', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      const plain = await listConnections(userId);
      const withExtras = await listConnections(userId, '?foo=bar&_=12345&limit=1&sort=desc');
      expect(plain).toHaveLength(1);
      expect(withExtras).toEqual(plain);
    });
  });

  describe('PUT /api/v1/users/{user_id}/connections/{provider}', () => {
    it('creates a connection: 201 with the connection in the spec’s shape, status active by default', async () => {
      const { id: userId } = await createUser();
      const res = await putConnection(userId, 'garmin', {
        access_token: token('access'),
        refresh_token: token('refresh'),
        token_expires_at: FUTURE,
        provider_user_id: '9876543210',
        provider_username: 'john_runner',
        scope: 'ACTIVITY_EXPORT HEALTH_EXPORT',
        last_synced_at: '2024-03-15T10:30:00Z',
      });
      expect(res.status, res.text).toBe(201);
      expectConnectionShape(res.body);
      expect(res.body).toMatchObject({
        user_id: userId,
        provider: 'garmin',
        provider_user_id: '9876543210',
        provider_username: 'john_runner',
        scope: 'ACTIVITY_EXPORT HEALTH_EXPORT',
        status: 'active',
        last_synced_at: '2024-03-15T10:30:00Z',
      });
      expect(await listConnections(userId)).toEqual([res.body]);
    });

    it('never returns the tokens it is given, in PUT or in the list, yet stores them', async () => {
      const { id: userId } = await createUser();
      const access = token('access');
      const refresh = token('refresh');
      const res = await putConnection(userId, 'strava', { access_token: access, refresh_token: refresh });
      expect(res.status).toBe(201);
      expect(res.text).not.toContain(access);
      expect(res.text).not.toContain(refresh);
      expect(keysContainingToken(res.body)).toEqual([]);
      const list = await call('get', `/api/v1/users/${userId}/connections`);
      expect(list.status).toBe(200);
      expect(list.text).not.toContain(access);
      expect(list.text).not.toContain(refresh);
      expect(keysContainingToken(list.body)).toEqual([]);
      const stored = await storedTokens(t, userId, 'strava');
      expect(stored.access_token).not.toBeNull();
      expect(stored.refresh_token).not.toBeNull();
    });

    describe('with status revoked', () => {
      it('stores no tokens, nor their expiry, when it creates the connection', async () => {
        const { id: userId } = await createUser();
        const res = await putConnection(userId, 'garmin', {
          access_token: token('access'),
          refresh_token: token('refresh'),
          token_expires_at: FUTURE,
          status: 'revoked',
        });
        expect(res.status, res.text).toBe(201);
        expect(res.body.status).toBe('revoked');
        expect(await storedTokens(t, userId, 'garmin')).toEqual({ access_token: null, refresh_token: null });
        const [row] = await t.query<{ token_expires_at: Date | null }>(
          'SELECT token_expires_at FROM connections WHERE user_id = $1 AND provider = $2',
          [userId, 'garmin'],
        );
        expect(row.token_expires_at).toBeNull();
      });

      it('erases the tokens of an active connection it replaces', async () => {
        const { id: userId } = await createUser();
        expect((await putConnection(userId, 'strava', { access_token: token('access'), refresh_token: token('refresh') })).status).toBe(201);
        const before = await storedTokens(t, userId, 'strava');
        expect(before.access_token).not.toBeNull();
        expect(before.refresh_token).not.toBeNull();

        const res = await putConnection(userId, 'strava', { access_token: token('access'), refresh_token: token('refresh'), status: 'revoked' });
        expect(res.status, res.text).toBe(200);
        expect(res.body.status).toBe('revoked');
        expect(await storedTokens(t, userId, 'strava')).toEqual({ access_token: null, refresh_token: null });
      });

      it('erases the tokens that earlier versions stored on revoked connections (migration RevokedConnectionsHoldNoTokens)', async () => {
        const { id: userId } = await createUser();
        expect((await putConnection(userId, 'coros', { access_token: token('access'), refresh_token: token('refresh') })).status).toBe(201);
        const migration = new RevokedConnectionsHoldNoTokens1795510000001();
        // One runner for every statement: the embedded database's pool has a single connection.
        const runner = t.app.get(DataSource).createQueryRunner();
        try {
          await migration.down(runner);
          // What PUT with status revoked used to leave behind.
          await runner.query(`UPDATE connections SET status = 'revoked' WHERE user_id = $1`, [userId]);
          const [before] = await runner.query(`SELECT access_token, refresh_token FROM connections WHERE user_id = $1`, [userId]);
          expect(before.access_token).not.toBeNull();
          expect(before.refresh_token).not.toBeNull();
          await migration.up(runner);
        } finally {
          await runner.release();
        }
        expect(await storedTokens(t, userId, 'coros')).toEqual({ access_token: null, refresh_token: null });
        expect((await listConnections(userId)).map((c) => c.status)).toEqual(['revoked']);
      });

      it('is refused by the database itself should any write store a token on a revoked connection', async () => {
        const { id: userId } = await createUser();
        expect((await putConnection(userId, 'polar', { access_token: token('access'), status: 'revoked' })).status).toBe(201);
        await expect(
          t.query(`UPDATE connections SET access_token = 'v1.x.y.z.w' WHERE user_id = $1 AND provider = 'polar'`, [userId]),
        ).rejects.toThrow(/ck_connections_revoked_no_tokens/);
        expect(await storedTokens(t, userId, 'polar')).toEqual({ access_token: null, refresh_token: null });
      });
    });

    it.skipIf(!ON_POSTGRESQL)(
      'answers exactly one of 20 concurrent first PUTs with 201, and emits one connection.created (PostgreSQL only: the embedded database runs one statement at a time, so nothing races on it)',
      async () => {
        const events = t.app.get(EventEmitter2);
        for (let round = 0; round < 3; round++) {
          const { id: userId } = await createUser();
          const seen: { name: string; reason: string }[] = [];
          const listeners = Object.values(CONNECTION_EVENTS).map((name) => {
            const listener = (event: ConnectionEvent) => {
              if (event.user_id === userId) seen.push({ name, reason: event.reason });
            };
            events.on(name, listener);
            return () => events.off(name, listener);
          });
          try {
            const responses = await Promise.all(
              Array.from({ length: 20 }, () => putConnection(userId, 'whoop', { access_token: token('access') })),
            );
            const statuses = responses.map((res) => res.status);
            expect(statuses.filter((status) => status === 201), `round ${round}: 201s`).toHaveLength(1);
            expect(statuses.filter((status) => status === 200), `round ${round}: 200s`).toHaveLength(19);
            expect(new Set(responses.map((res) => res.body.id)).size).toBe(1);
            expect(await listConnections(userId)).toHaveLength(1);
            expect(seen, `round ${round}`).toEqual([{ name: CONNECTION_EVENTS.created, reason: 'linked' }]);
          } finally {
            for (const off of listeners) off();
          }
        }
      },
    );

    it('replaces an existing connection: 200, the same id, the new values, still one connection', async () => {
      const { id: userId } = await createUser();
      const first = await putConnection(userId, 'polar', {
        access_token: token('access'),
        provider_user_id: 'p-1',
        provider_username: 'old_name',
        scope: 'exercise.read',
        last_synced_at: '2024-01-01T00:00:00Z',
      });
      expect(first.status).toBe(201);

      const second = await putConnection(userId, 'polar', {
        access_token: token('access'),
        provider_user_id: 'p-2',
        provider_username: 'new_name',
        scope: 'exercise.read profile',
        status: 'expired',
        last_synced_at: '2024-02-02T02:02:02Z',
      });
      expect(second.status, second.text).toBe(200);
      expectConnectionShape(second.body);
      expect(second.body.id).toBe(first.body.id);
      expect(second.body).toMatchObject({
        user_id: userId,
        provider: 'polar',
        provider_user_id: 'p-2',
        provider_username: 'new_name',
        scope: 'exercise.read profile',
        status: 'expired',
        last_synced_at: '2024-02-02T02:02:02Z',
      });
      expect(second.body.created_at).toBe(first.body.created_at);

      expect(await listConnections(userId)).toEqual([second.body]);
    });

    it('keeps one connection per provider and user, separate per provider and per user', async () => {
      const { id: alice } = await createUser();
      const { id: bob } = await createUser();
      expect((await putConnection(alice, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(alice, 'strava', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(bob, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(alice, 'garmin', { access_token: token('access') })).status).toBe(200);

      const aliceRows = await listConnections(alice);
      expect(aliceRows.map((c) => c.provider).sort()).toEqual(['garmin', 'strava']);
      expect(aliceRows.every((c) => c.user_id === alice)).toBe(true);
      const bobRows = await listConnections(bob);
      expect(bobRows.map((c) => [c.provider, c.user_id])).toEqual([['garmin', bob]]);
      expect(bobRows[0].id).not.toBe(aliceRows.find((c) => c.provider === 'garmin')!.id);
    });

    it('accepts explicit status revoked and expired', async () => {
      const { id: userId } = await createUser();
      const revoked = await putConnection(userId, 'whoop', { access_token: token('access'), status: 'revoked' });
      expect(revoked.status).toBe(201);
      expect(revoked.body.status).toBe('revoked');
      const expired = await putConnection(userId, 'fitbit', { access_token: token('access'), status: 'expired' });
      expect(expired.status).toBe(201);
      expect(expired.body.status).toBe('expired');
    });

    it('returns 400 naming provider for an unknown provider, and creates nothing', async () => {
      const { id: userId } = await createUser();
      const res = await putConnection(userId, 'nokia', { access_token: token('access') });
      expectError(res, 400, 'provider');
      expect(await listConnections(userId)).toEqual([]);
    });

    it('returns 400 naming user_id for a user_id that is not a UUID', async () => {
      const res = await putConnection('not-a-uuid', 'garmin', { access_token: token('access') });
      expectError(res, 400, 'user_id', /uuid/i);
    });

    const invalidBodies: { name: string; body: () => Record<string, unknown> }[] = [
      { name: 'a missing access_token', body: () => ({ provider_user_id: '1', refresh_token: token('refresh') }) },
      { name: 'an access_token that is not a string', body: () => ({ access_token: 12345 }) },
      { name: 'an invalid status', body: () => ({ access_token: token('access'), status: 'paused' }) },
      {
        name: 'a last_synced_at without a time zone',
        body: () => ({ access_token: token('access'), last_synced_at: '2024-03-15T10:30:00' }),
      },
      {
        name: 'a token_expires_at without a time zone',
        body: () => ({ access_token: token('access'), token_expires_at: '2024-03-15T10:30:00' }),
      },
      { name: 'a last_synced_at that is not a time', body: () => ({ access_token: token('access'), last_synced_at: 'yesterday' }) },
      { name: 'an unknown body field', body: () => ({ access_token: token('access'), colour: 'red' }) },
      {
        name: 'a misspelt optional field',
        body: () => ({ access_token: token('access'), refresh_token: token('refresh'), last_sync_at: '2024-03-15T10:30:00Z' }),
      },
    ];

    it.each(invalidBodies)('returns 400 for $name, and creates nothing', async ({ body }) => {
      const { id: userId } = await createUser();
      const res = await putConnection(userId, 'garmin', body());
      expectError(res, 400);
      expect(await listConnections(userId)).toEqual([]);
    });

    it('returns 400 with {"detail"} for a malformed JSON body, and creates nothing', async () => {
      const { id: userId } = await createUser();
      const res = await call('put', `/api/v1/users/${userId}/connections/garmin`, {
        rawBody: `{"access_token": "${token('access')}", `,
      });
      expectError(res, 400);
      expect(await listConnections(userId)).toEqual([]);
    });

    it('does not change an existing connection when a replacement is rejected', async () => {
      const { id: userId } = await createUser();
      const created = await putConnection(userId, 'coros', { access_token: token('access'), scope: 'all' });
      expect(created.status).toBe(201);
      const rejected = await putConnection(userId, 'coros', { access_token: token('access'), status: 'paused' });
      expectError(rejected, 400);
      expect(await listConnections(userId)).toEqual([created.body]);
    });
  });

  describe('status of an active connection whose access token has lapsed', () => {
    it('reads as expired with no refresh_token: in PUT, in the list and in the status filters', async () => {
      const { id: userId } = await createUser();
      const put = await putConnection(userId, 'garmin', { access_token: token('access'), token_expires_at: PAST });
      expect(put.status).toBe(201);
      expect(put.body.status).toBe('expired');

      const rows = await listConnections(userId);
      expect(rows.map((c) => [c.id, c.status])).toEqual([[put.body.id, 'expired']]);
      expect((await listConnections(userId, '?status=expired')).map((c) => c.id)).toEqual([put.body.id]);
      expect(await listConnections(userId, '?status=active')).toEqual([]);
    });

    it('stays active with a refresh_token', async () => {
      const { id: userId } = await createUser();
      const put = await putConnection(userId, 'strava', {
        access_token: token('access'),
        refresh_token: token('refresh'),
        token_expires_at: PAST,
      });
      expect(put.status).toBe(201);
      expect(put.body.status).toBe('active');

      const rows = await listConnections(userId);
      expect(rows.map((c) => [c.id, c.status])).toEqual([[put.body.id, 'active']]);
      expect((await listConnections(userId, '?status=active')).map((c) => c.id)).toEqual([put.body.id]);
      expect(await listConnections(userId, '?status=expired')).toEqual([]);
    });

    it('stays active while the token has not lapsed yet', async () => {
      const { id: userId } = await createUser();
      const put = await putConnection(userId, 'oura', { access_token: token('access'), token_expires_at: FUTURE });
      expect(put.status).toBe(201);
      expect(put.body.status).toBe('active');
      expect((await listConnections(userId, '?status=active')).map((c) => c.id)).toEqual([put.body.id]);
    });

    it('leaves a revoked connection revoked', async () => {
      const { id: userId } = await createUser();
      const put = await putConnection(userId, 'polar', {
        access_token: token('access'),
        token_expires_at: PAST,
        status: 'revoked',
      });
      expect(put.status).toBe(201);
      expect(put.body.status).toBe('revoked');
      expect((await listConnections(userId, '?status=revoked')).map((c) => c.id)).toEqual([put.body.id]);
      expect(await listConnections(userId, '?status=expired')).toEqual([]);
    });
  });

  describe('DELETE /api/v1/users/{user_id}/connections/{provider}', () => {
    it('disconnects: 204, the connection becomes revoked and both tokens are erased', async () => {
      const { id: userId } = await createUser();
      const access = token('access');
      const refresh = token('refresh');
      const put = await putConnection(userId, 'garmin', { access_token: access, refresh_token: refresh });
      expect(put.status).toBe(201);
      const before = await storedTokens(t, userId, 'garmin');
      expect(before.access_token).not.toBeNull();
      expect(before.refresh_token).not.toBeNull();

      const res = await call('delete', `/api/v1/users/${userId}/connections/garmin`);
      expect(res.status).toBe(204);
      expect(res.text ?? '').toBe('');

      const rows = await listConnections(userId);
      expect(rows.map((c) => [c.id, c.provider, c.status])).toEqual([[put.body.id, 'garmin', 'revoked']]);
      expect(await storedTokens(t, userId, 'garmin')).toEqual({ access_token: null, refresh_token: null });
    });

    it('returns 204 again on a repeated disconnect, and the connection stays revoked', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'strava', { access_token: token('access') })).status).toBe(201);
      expect((await call('delete', `/api/v1/users/${userId}/connections/strava`)).status).toBe(204);
      const again = await call('delete', `/api/v1/users/${userId}/connections/strava`);
      expect(again.status).toBe(204);
      expect((await listConnections(userId)).map((c) => c.status)).toEqual(['revoked']);
      expect(await storedTokens(t, userId, 'strava')).toEqual({ access_token: null, refresh_token: null });
    });

    it('only disconnects the given provider', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      expect((await putConnection(userId, 'polar', { access_token: token('access') })).status).toBe(201);
      expect((await call('delete', `/api/v1/users/${userId}/connections/polar`)).status).toBe(204);
      const statuses = Object.fromEntries((await listConnections(userId)).map((c) => [c.provider, c.status]));
      expect(statuses).toEqual({ garmin: 'active', polar: 'revoked' });
      expect((await storedTokens(t, userId, 'garmin')).access_token).not.toBeNull();
      expect(await storedTokens(t, userId, 'polar')).toEqual({ access_token: null, refresh_token: null });
    });

    it('returns 404 for a provider the user never connected', async () => {
      const { id: userId } = await createUser();
      expect((await putConnection(userId, 'garmin', { access_token: token('access') })).status).toBe(201);
      const res = await call('delete', `/api/v1/users/${userId}/connections/strava`);
      expectError(res, 404);
      expect((await listConnections(userId)).map((c) => [c.provider, c.status])).toEqual([['garmin', 'active']]);
    });

    it('returns 404 User not found for an unknown user', async () => {
      const res = await call('delete', `/api/v1/users/${randomUUID()}/connections/garmin`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(USER_NOT_FOUND_BODY);
    });

    it('lets a disconnected provider be connected again (PUT replaces it: 200, same id, active)', async () => {
      const { id: userId } = await createUser();
      const first = await putConnection(userId, 'whoop', { access_token: token('access') });
      expect(first.status).toBe(201);
      expect((await call('delete', `/api/v1/users/${userId}/connections/whoop`)).status).toBe(204);
      const again = await putConnection(userId, 'whoop', { access_token: token('access') });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      expect(again.body.status).toBe('active');
    });
  });

  // Kept last: a PUT for an unknown user is the one request here that makes the database reject a
  // statement, and (see the regression test) the service must keep working after that.
  describe('PUT for an unknown user', () => {
    it('returns 404 User not found, and the service keeps listing connections after it', async () => {
      const { id: userId } = await createUser();
      const put = await putConnection(userId, 'garmin', { access_token: token('access') });
      expect(put.status).toBe(201);
      expect(await listConnections(userId)).toEqual([put.body]);

      const rejected = await putConnection(randomUUID(), 'strava', { access_token: token('access') });
      expect(rejected.status).toBe(404);
      expect(rejected.body).toEqual(USER_NOT_FOUND_BODY);

      expect(await listConnections(userId)).toEqual([put.body]);
      expect(await listConnections(userId, '?status=active')).toEqual([put.body]);
    });
  });
});
