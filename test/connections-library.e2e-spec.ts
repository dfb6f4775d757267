import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AccountInUseError, ConnectionNotActiveError, ConnectionNotFoundError } from '../src/connections/connection.errors.js';
import { CONNECTION_EVENTS, type ConnectionEvent, STATUS_REASONS } from '../src/connections/connection.events.js';
import { ConnectionsRepository } from '../src/connections/connections.repository.js';
import type { CurrentTokens, Grant, RefreshResult } from '../src/connections/connections.service.js';
import type { ConnectionResponse } from '../src/connections/dto/connection-response.js';
import type { Provider } from '../src/connections/providers.js';
import { UserNotFoundError } from '../src/users/user.errors.js';
import { USER_EVENTS, type UserDeletingEvent } from '../src/users/user.events.js';
import { type ConsumerApp, startConsumerApp } from './example-consumer/support.js';
import type { ReceivedEvent } from './example-consumer/sync-worker.module.js';

const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);
const EVENT_KEYS = ['connection_id', 'provider', 'reason', 'user_id'];

let t: ConsumerApp;

beforeAll(async () => {
  t = await startConsumerApp();
});

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function newUser(): Promise<string> {
  const user = await t.users.create({ id: randomUUID() });
  return user.id;
}

function token(kind: 'access' | 'refresh'): string {
  return `${kind}-${randomUUID()}`;
}

function grant(overrides: Partial<Grant> = {}): Grant {
  return {
    accessToken: token('access'),
    refreshToken: token('refresh'),
    expiresAt: new Date(Date.now() + 3_600_000),
    scope: `scope-${randomUUID().slice(0, 8)}`,
    providerUserId: `pu-${randomUUID()}`,
    providerUsername: null,
    ...overrides,
  };
}

/** An expected event. */
function event(name: string, connection: Pick<ConnectionResponse, 'id' | 'user_id' | 'provider'>, reason: ConnectionEvent['reason']): ReceivedEvent {
  return { name, payload: { connection_id: connection.id, user_id: connection.user_id, provider: connection.provider, reason } };
}

function eventsOf(connectionId: string): ReceivedEvent[] {
  return t.worker.eventsForConnection(connectionId);
}

interface StoredRow {
  status: string;
  status_reason: string | null;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: Date | null;
  token_version: number;
  last_synced_at: Date | null;
  updated_at: Date;
}

async function stored(connectionId: string): Promise<StoredRow> {
  const rows = await t.sql.rows<StoredRow>(
    `SELECT status, status_reason, access_token, refresh_token, token_expires_at, token_version, last_synced_at, updated_at
       FROM connections WHERE id = $1`,
    [connectionId],
  );
  expect(rows).toHaveLength(1);
  return rows[0];
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, it resolved');
}

/** A refresher that records what it is handed and answers `result` (after `delayMs`). */
function recordingRefresher(result: (call: number) => RefreshResult, delayMs = 0) {
  const handed: CurrentTokens[] = [];
  const refresher = async (current: CurrentTokens): Promise<RefreshResult> => {
    handed.push(current);
    const call = handed.length;
    if (delayMs) await sleep(delayMs);
    return result(call);
  };
  return { refresher, handed };
}

async function listOverHttp(userId: string, query = ''): Promise<unknown> {
  const res = await t.http('GET', `/api/v1/users/${userId}/connections${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

function asJson<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------
// listForUser
// ---------------------------------------------------------------------------------------------

describe('listForUser', () => {
  async function userWithFiveConnections() {
    const userId = await newUser();
    const base = Date.parse('2024-03-01T00:00:00Z');
    const c: Partial<Record<Provider, ConnectionResponse>> = {};
    for (const provider of ['fitbit', 'garmin', 'strava', 'coros', 'polar'] as const) {
      c[provider] = await t.connections.link(userId, provider, grant());
    }
    await t.connections.recordSync(c.garmin!.id, new Date(base));
    await t.connections.recordSync(c.strava!.id, new Date(base + 60_000));
    await t.connections.recordSync(c.polar!.id, new Date(base + 60_000)); // ties with strava
    await t.connections.markRevoked(c.strava!.id, 'user_disconnected');
    await t.connections.markExpired(c.coros!.id, 'provider_deregistered');
    return { userId, c };
  }

  it('orders by last_synced_at descending, never-synced last, ties by provider name', async () => {
    const { userId } = await userWithFiveConnections();
    const list = await t.connections.listForUser(userId);
    expect(list.map((row) => row.provider)).toEqual(['polar', 'strava', 'garmin', 'coros', 'fitbit']);
  });

  it('gives the same rows in the same order as GET /api/v1/users/{id}/connections', async () => {
    const { userId } = await userWithFiveConnections();
    expect(asJson(await t.connections.listForUser(userId))).toEqual(await listOverHttp(userId));
  });

  it('filters by status and by provider exactly as the HTTP query does', async () => {
    const { userId, c } = await userWithFiveConnections();
    const active = await t.connections.listForUser(userId, { status: 'active' });
    expect(active.map((row) => row.provider)).toEqual(['polar', 'garmin', 'fitbit']);
    expect(asJson(active)).toEqual(await listOverHttp(userId, '?status=active'));

    const revoked = await t.connections.listForUser(userId, { status: 'revoked' });
    expect(revoked.map((row) => row.id)).toEqual([c.strava!.id]);
    expect(asJson(revoked)).toEqual(await listOverHttp(userId, '?status=revoked'));

    const expired = await t.connections.listForUser(userId, { status: 'expired', provider: 'coros' });
    expect(expired.map((row) => row.id)).toEqual([c.coros!.id]);
    expect(asJson(expired)).toEqual(await listOverHttp(userId, '?status=expired&provider=coros'));

    expect(await t.connections.listForUser(userId, { status: 'active', provider: 'strava' })).toEqual([]);
  });

  it('returns [] for a user without connections', async () => {
    expect(await t.connections.listForUser(await newUser())).toEqual([]);
  });

  it('throws UserNotFoundError for an unknown user', async () => {
    const error = await rejection(t.connections.listForUser(randomUUID()));
    expect(error).toBeInstanceOf(UserNotFoundError);
  });
});

// ---------------------------------------------------------------------------------------------
// link
// ---------------------------------------------------------------------------------------------

describe('link', () => {
  it('creates an active connection with the grant and emits connection.created reason linked', async () => {
    const userId = await newUser();
    const g = grant({ providerUsername: 'runner' });
    const created = await t.connections.link(userId, 'garmin', g);
    expect(created).toMatchObject({
      user_id: userId,
      provider: 'garmin',
      status: 'active',
      scope: g.scope,
      provider_user_id: g.providerUserId,
      provider_username: 'runner',
      last_synced_at: null,
    });
    expect(await t.connections.listForUser(userId)).toEqual([created]);
    expect(await t.connections.getAccessToken(created.id)).toBe(g.accessToken);
    expect(eventsOf(created.id)).toEqual([event(CONNECTION_EVENTS.created, created, 'linked')]);
  });

  it.each(['revoked', 'expired'] as const)(
    'reactivates a %s connection with the new tokens and scope and emits connection.created reason relinked',
    async (status) => {
      const userId = await newUser();
      const first = await t.connections.link(userId, 'strava', grant());
      if (status === 'revoked') await t.connections.markRevoked(first.id, 'refresh_failed');
      else await t.connections.markExpired(first.id, 'token_lapsed');
      const second = grant({ scope: 'activity:read_all' });
      const relinked = await t.connections.link(userId, 'strava', second);

      expect(relinked.id).toBe(first.id);
      expect(relinked).toMatchObject({ status: 'active', scope: 'activity:read_all', provider_user_id: second.providerUserId });
      expect(await t.connections.getAccessToken(first.id)).toBe(second.accessToken);
      // The new refresh token replaced the old one too: it is what a refresher is handed.
      const probe = recordingRefresher(() => ({ accessToken: token('access') }));
      await t.connections.refreshTokens(first.id, probe.refresher);
      expect(probe.handed[0]).toMatchObject({ accessToken: second.accessToken, refreshToken: second.refreshToken });
      expect(eventsOf(first.id)).toEqual([
        event(CONNECTION_EVENTS.created, first, 'linked'),
        event(status === 'revoked' ? CONNECTION_EVENTS.revoked : CONNECTION_EVENTS.expired, first, status === 'revoked' ? 'refresh_failed' : 'token_lapsed'),
        event(CONNECTION_EVENTS.created, first, 'relinked'),
      ]);
    },
  );

  it('throws UserNotFoundError for an unknown user, emits nothing, and the very next call still works', async () => {
    const known = await t.connections.link(await newUser(), 'garmin', grant());
    const userId = randomUUID();
    const error = await rejection(t.connections.link(userId, 'garmin', grant()));
    expect(error).toBeInstanceOf(UserNotFoundError);
    expect(t.worker.eventsForUser(userId)).toEqual([]);
    // A consumer calls on at once (no HTTP round trip in between): the refusal must not break it.
    expect(await t.connections.listForUser(known.user_id)).toEqual([known]);
  });
});

describe('linkExclusive', () => {
  it('links as link() does unless another user’s connection, active or expired, holds the provider account: then AccountInUseError, nothing written or announced', async () => {
    const [owner, other] = [await newUser(), await newUser()];
    const account = `pu-${randomUUID()}`;
    const owned = await t.connections.linkExclusive(owner, 'oura', grant({ providerUserId: account }));
    expect(owned).toMatchObject({ user_id: owner, provider: 'oura', status: 'active', provider_user_id: account });
    expect(eventsOf(owned.id)).toEqual([event(CONNECTION_EVENTS.created, owned, 'linked')]);

    // Active, then expired: the account is the owner's either way.
    for (const holder of ['active', 'expired']) {
      if (holder === 'expired') await t.connections.markExpired(owned.id, 'token_lapsed');
      const error = await rejection(t.connections.linkExclusive(other, 'oura', grant({ providerUserId: account })));
      expect(error, holder).toBeInstanceOf(AccountInUseError);
      expect(await t.connections.listForUser(other)).toEqual([]);
      expect(t.worker.eventsForUser(other)).toEqual([]);
    }
    // The owner may link it again (a refresh of the grant), and another account is free for anyone.
    expect(await t.connections.linkExclusive(owner, 'oura', grant({ providerUserId: account }))).toMatchObject({ id: owned.id, status: 'active' });
    expect(await t.connections.linkExclusive(other, 'oura', grant())).toMatchObject({ user_id: other, status: 'active' });
    await t.connections.disconnect(other, 'oura');

    // Revoked, it holds the account for no one.
    await t.connections.disconnect(owner, 'oura');
    const taken = await t.connections.linkExclusive(other, 'oura', grant({ providerUserId: account }));
    expect(taken).toMatchObject({ user_id: other, provider_user_id: account, status: 'active' });
    expect(await rejection(t.connections.linkExclusive(randomUUID(), 'oura', grant()))).toBeInstanceOf(UserNotFoundError);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'of 10 users linking one provider account at once, exactly one succeeds and the others get AccountInUseError (PostgreSQL only: the embedded database runs one statement at a time, so nothing races on it)',
    async () => {
      const account = `pu-${randomUUID()}`;
      const users = await Promise.all(Array.from({ length: 10 }, () => newUser()));
      const results = await Promise.allSettled(users.map((userId) => t.connections.linkExclusive(userId, 'whoop', grant({ providerUserId: account }))));
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      for (const result of results) if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(AccountInUseError);
      expect(await t.connections.findByProviderUser('whoop', account)).toHaveLength(1);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// recordSync
// ---------------------------------------------------------------------------------------------

describe('recordSync', () => {
  it('stamps last_synced_at and emits connection.synced', async () => {
    const userId = await newUser();
    const connection = await t.connections.link(userId, 'polar', grant());
    const at = new Date('2024-05-01T12:00:00.000Z');
    const synced = await t.connections.recordSync(connection.id, at);
    expect(synced.last_synced_at).toBe('2024-05-01T12:00:00Z');
    expect((await stored(connection.id)).last_synced_at?.toISOString()).toBe(at.toISOString());
    expect(eventsOf(connection.id)).toEqual([
      event(CONNECTION_EVENTS.created, connection, 'linked'),
      event(CONNECTION_EVENTS.synced, connection, 'synced'),
    ]);
  });

  it('stamps now when no time is given', async () => {
    const connection = await t.connections.link(await newUser(), 'polar', grant());
    const before = Date.now();
    const synced = await t.connections.recordSync(connection.id);
    const after = Date.now();
    const stamped = Date.parse(synced.last_synced_at!);
    expect(stamped).toBeGreaterThanOrEqual(before - 1000);
    expect(stamped).toBeLessThanOrEqual(after + 1000);
  });

  it('never moves last_synced_at backwards', async () => {
    const connection = await t.connections.link(await newUser(), 'oura', grant());
    await t.connections.recordSync(connection.id, new Date('2024-05-02T00:00:00Z'));
    const older = await t.connections.recordSync(connection.id, new Date('2024-05-01T00:00:00Z'));
    expect(older.last_synced_at).toBe('2024-05-02T00:00:00Z');
    expect((await stored(connection.id)).last_synced_at?.toISOString()).toBe('2024-05-02T00:00:00.000Z');
  });

  it('throws ConnectionNotFoundError for an unknown connection', async () => {
    const id = randomUUID();
    expect(await rejection(t.connections.recordSync(id))).toBeInstanceOf(ConnectionNotFoundError);
    expect(eventsOf(id)).toEqual([]);
  });

  it('lets the consumer sync a user: each active connection with its own token, stamped', async () => {
    const userId = await newUser();
    const garminGrant = grant();
    const stravaGrant = grant();
    const garmin = await t.connections.link(userId, 'garmin', garminGrant);
    const strava = await t.connections.link(userId, 'strava', stravaGrant);
    const polar = await t.connections.link(userId, 'polar', grant());
    await t.connections.markRevoked(polar.id, 'user_disconnected');

    const done = await t.worker.syncUser(userId);
    expect(done.map(({ connectionId, accessToken }) => ({ connectionId, accessToken })).sort((a, b) => a.connectionId.localeCompare(b.connectionId))).toEqual(
      [
        { connectionId: garmin.id, accessToken: garminGrant.accessToken },
        { connectionId: strava.id, accessToken: stravaGrant.accessToken },
      ].sort((a, b) => a.connectionId.localeCompare(b.connectionId)),
    );
    const list = await t.connections.listForUser(userId);
    expect(list.filter((row) => row.last_synced_at !== null).map((row) => row.id).sort()).toEqual([garmin.id, strava.id].sort());
    expect(eventsOf(polar.id).map((e) => e.name)).not.toContain(CONNECTION_EVENTS.synced);
  });
});

// ---------------------------------------------------------------------------------------------
// markRevoked / markExpired
// ---------------------------------------------------------------------------------------------

describe('markRevoked and markExpired', () => {
  it.each(STATUS_REASONS)(
    'markRevoked(%s) revokes, erases the tokens, emits connection.revoked with that reason, and a repeat changes nothing',
    async (reason) => {
      const connection = await t.connections.link(await newUser(), 'whoop', grant());
      const revoked = await t.connections.markRevoked(connection.id, reason);
      expect(revoked.status).toBe('revoked');
      const row = await stored(connection.id);
      expect(row).toMatchObject({ status: 'revoked', status_reason: reason, access_token: null, refresh_token: null, token_expires_at: null });

      const error = await rejection(t.connections.getAccessToken(connection.id));
      expect(error).toBeInstanceOf(ConnectionNotActiveError);
      expect((error as ConnectionNotActiveError).connectionStatus).toBe('revoked');

      const again = await t.connections.markRevoked(connection.id, reason);
      expect(again).toEqual(revoked);
      expect(await stored(connection.id)).toEqual(row);
      expect(eventsOf(connection.id)).toEqual([
        event(CONNECTION_EVENTS.created, connection, 'linked'),
        event(CONNECTION_EVENTS.revoked, connection, reason),
      ]);
    },
  );

  it.each(STATUS_REASONS)(
    'markExpired(%s) expires, keeps the tokens for a refresh, emits connection.expired with that reason, and a repeat changes nothing',
    async (reason) => {
      const g = grant();
      const connection = await t.connections.link(await newUser(), 'suunto', g);
      const expired = await t.connections.markExpired(connection.id, reason);
      expect(expired.status).toBe('expired');
      const row = await stored(connection.id);
      expect(row).toMatchObject({ status: 'expired', status_reason: reason });
      expect(row.access_token).not.toBeNull();
      expect(row.refresh_token).not.toBeNull();

      const error = await rejection(t.connections.getAccessToken(connection.id));
      expect(error).toBeInstanceOf(ConnectionNotActiveError);
      expect((error as ConnectionNotActiveError).connectionStatus).toBe('expired');

      const again = await t.connections.markExpired(connection.id, reason);
      expect(again).toEqual(expired);
      expect(await stored(connection.id)).toEqual(row);
      expect(eventsOf(connection.id)).toEqual([
        event(CONNECTION_EVENTS.created, connection, 'linked'),
        event(CONNECTION_EVENTS.expired, connection, reason),
      ]);

      // The kept tokens are what a refresher is handed.
      const probe = recordingRefresher(() => ({ accessToken: token('access') }));
      await t.connections.refreshTokens(connection.id, probe.refresher);
      expect(probe.handed).toHaveLength(1);
      expect(probe.handed[0]).toMatchObject({ accessToken: g.accessToken, refreshToken: g.refreshToken });
    },
  );

  it('markExpired leaves a revoked connection revoked and emits nothing', async () => {
    const connection = await t.connections.link(await newUser(), 'withings', grant());
    await t.connections.markRevoked(connection.id, 'provider_deregistered');
    const before = await stored(connection.id);
    const result = await t.connections.markExpired(connection.id, 'token_lapsed');
    expect(result.status).toBe('revoked');
    expect(await stored(connection.id)).toEqual(before);
    expect(eventsOf(connection.id).map((e) => e.name)).toEqual([CONNECTION_EVENTS.created, CONNECTION_EVENTS.revoked]);
  });

  it('markRevoked revokes an expired connection and erases its tokens', async () => {
    const connection = await t.connections.link(await newUser(), 'withings', grant());
    await t.connections.markExpired(connection.id, 'token_lapsed');
    const revoked = await t.connections.markRevoked(connection.id, 'provider_deregistered');
    expect(revoked.status).toBe('revoked');
    expect(await stored(connection.id)).toMatchObject({ access_token: null, refresh_token: null });
    expect(eventsOf(connection.id).slice(-1)).toEqual([event(CONNECTION_EVENTS.revoked, connection, 'provider_deregistered')]);
  });

  it('markRevoked on a connection already revoked by an import (upsert status revoked) emits nothing', async () => {
    const userId = await newUser();
    const { connection } = await t.connections.upsert(userId, 'coros', { ...grant(), status: 'revoked' });
    expect(connection.status).toBe('revoked');
    const eventsBefore = eventsOf(connection.id).length;
    const result = await t.connections.markRevoked(connection.id, 'user_disconnected');
    expect(result.status).toBe('revoked');
    expect(eventsOf(connection.id)).toHaveLength(eventsBefore);
  });

  it('both throw ConnectionNotFoundError for an unknown connection', async () => {
    expect(await rejection(t.connections.markRevoked(randomUUID(), 'user_disconnected'))).toBeInstanceOf(ConnectionNotFoundError);
    expect(await rejection(t.connections.markExpired(randomUUID(), 'token_lapsed'))).toBeInstanceOf(ConnectionNotFoundError);
  });
});

// ---------------------------------------------------------------------------------------------
// disconnect, findByProviderUser, getAccessToken
// ---------------------------------------------------------------------------------------------

describe('disconnect', () => {
  it('revokes and erases the tokens with reason user_disconnected, exactly as the HTTP DELETE does', async () => {
    const viaService = await t.connections.link(await newUser(), 'fitbit', grant());
    const viaHttp = await t.connections.link(await newUser(), 'fitbit', grant());

    const result = await t.connections.disconnect(viaService.user_id, 'fitbit');
    const res = await t.http('DELETE', `/api/v1/users/${viaHttp.user_id}/connections/fitbit`);
    expect(res.statusCode, res.body).toBe(204);

    expect(result.status).toBe('revoked');
    for (const connection of [viaService, viaHttp]) {
      const row = await stored(connection.id);
      expect(row).toMatchObject({ status: 'revoked', status_reason: 'user_disconnected', access_token: null, refresh_token: null });
      expect(await rejection(t.connections.getAccessToken(connection.id))).toBeInstanceOf(ConnectionNotActiveError);
      expect(eventsOf(connection.id)).toEqual([
        event(CONNECTION_EVENTS.created, connection, 'linked'),
        event(CONNECTION_EVENTS.revoked, connection, 'user_disconnected'),
      ]);
    }
  });

  it('a repeated disconnect changes nothing and emits nothing', async () => {
    const connection = await t.connections.link(await newUser(), 'fitbit', grant());
    const first = await t.connections.disconnect(connection.user_id, 'fitbit');
    const row = await stored(connection.id);
    const again = await t.connections.disconnect(connection.user_id, 'fitbit');
    expect(again).toEqual(first);
    expect(await stored(connection.id)).toEqual(row);
    expect(eventsOf(connection.id).filter((e) => e.name === CONNECTION_EVENTS.revoked)).toHaveLength(1);
  });

  it('throws UserNotFoundError for an unknown user and ConnectionNotFoundError for an unconnected provider', async () => {
    expect(await rejection(t.connections.disconnect(randomUUID(), 'garmin'))).toBeInstanceOf(UserNotFoundError);
    const userId = await newUser();
    await t.connections.link(userId, 'strava', grant());
    expect(await rejection(t.connections.disconnect(userId, 'garmin'))).toBeInstanceOf(ConnectionNotFoundError);
  });
});

describe('findByProviderUser', () => {
  it("finds every connection of the provider's account, and no other", async () => {
    const account = `acct-${randomUUID()}`;
    const first = await t.connections.link(await newUser(), 'garmin', grant({ providerUserId: account }));
    const second = await t.connections.link(await newUser(), 'garmin', grant({ providerUserId: account }));
    await t.connections.markRevoked(second.id, 'user_disconnected');
    await t.connections.link(await newUser(), 'strava', grant({ providerUserId: account })); // other provider
    await t.connections.link(await newUser(), 'garmin', grant()); // other account

    const found = await t.connections.findByProviderUser('garmin', account);
    expect(found.map((row) => [row.id, row.status])).toEqual([
      [first.id, 'active'],
      [second.id, 'revoked'],
    ]);
    expect(await t.connections.findByProviderUser('garmin', `acct-${randomUUID()}`)).toEqual([]);
  });
});

describe('getAccessToken', () => {
  it('returns exactly the token given to link for an active connection', async () => {
    const g = grant({ accessToken: `tok ${randomUUID()} üñí/+=` });
    const connection = await t.connections.link(await newUser(), 'oura', g);
    expect(await t.connections.getAccessToken(connection.id)).toBe(g.accessToken);
    // Stored encrypted, not as given.
    expect((await stored(connection.id)).access_token).not.toContain(g.accessToken);
  });

  it.each(['revoked', 'expired'] as const)('refuses a %s connection with ConnectionNotActiveError', async (status) => {
    const connection = await t.connections.link(await newUser(), 'oura', grant());
    if (status === 'revoked') await t.connections.markRevoked(connection.id, 'user_disconnected');
    else await t.connections.markExpired(connection.id, 'token_lapsed');
    const error = await rejection(t.connections.getAccessToken(connection.id));
    expect(error).toBeInstanceOf(ConnectionNotActiveError);
    expect((error as ConnectionNotActiveError).connectionStatus).toBe(status);
  });

  it('throws ConnectionNotFoundError for an unknown connection', async () => {
    expect(await rejection(t.connections.getAccessToken(randomUUID()))).toBeInstanceOf(ConnectionNotFoundError);
  });
});

// ---------------------------------------------------------------------------------------------
// refreshTokens
// ---------------------------------------------------------------------------------------------

describe('refreshTokens', () => {
  it('two concurrent calls in one process call the refresher once: one refreshed, the other already_refreshed with the same token', async () => {
    const g = grant();
    const connection = await t.connections.link(await newUser(), 'garmin', g);
    const fresh = token('access');
    const { refresher, handed } = recordingRefresher(() => ({ accessToken: fresh, refreshToken: token('refresh') }), 100);

    const outcomes = await Promise.all([
      t.connections.refreshTokens(connection.id, refresher),
      t.connections.refreshTokens(connection.id, refresher),
    ]);
    expect(handed).toHaveLength(1);
    expect(handed[0]).toMatchObject({ accessToken: g.accessToken, refreshToken: g.refreshToken });
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['already_refreshed', 'refreshed']);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ accessToken: fresh });
    expect(await t.connections.getAccessToken(connection.id)).toBe(fresh);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'two application instances on one database refreshing the same connection at once call the refresher once in total (PostgreSQL only: the embedded database serves one connection, so a second instance cannot join it)',
    async () => {
      const other = await startConsumerApp(t.database);
      try {
        const connection = await t.connections.link(await newUser(), 'strava', grant());
        const fresh = token('access');
        const { refresher, handed } = recordingRefresher(() => ({ accessToken: fresh, refreshToken: token('refresh') }), 300);

        const outcomes = await Promise.all([
          t.connections.refreshTokens(connection.id, refresher),
          other.connections.refreshTokens(connection.id, refresher),
        ]);
        expect(handed).toHaveLength(1);
        expect(outcomes.map((o) => o.outcome).sort()).toEqual(['already_refreshed', 'refreshed']);
        for (const outcome of outcomes) expect(outcome).toMatchObject({ accessToken: fresh });
        expect(await other.connections.getAccessToken(connection.id)).toBe(fresh);
        expect(await t.connections.getAccessToken(connection.id)).toBe(fresh);
      } finally {
        await other.close();
      }
    },
  );

  it('a refresher reporting a rejected grant twice (re-read in between) makes the connection expired, reason refresh_failed, tokens erased', async () => {
    const connection = await t.connections.link(await newUser(), 'polar', grant());
    const { refresher, handed } = recordingRefresher(() => ({ rejected: true }));
    expect(await t.connections.refreshTokens(connection.id, refresher)).toEqual({ outcome: 'expired' });
    expect(handed).toHaveLength(2);
    expect(await stored(connection.id)).toMatchObject({ status: 'expired', status_reason: 'refresh_failed', access_token: null, refresh_token: null });
    expect((await t.connections.listForUser(connection.user_id))[0].status).toBe('expired');
    expect(await rejection(t.connections.getAccessToken(connection.id))).toBeInstanceOf(ConnectionNotActiveError);
    expect(eventsOf(connection.id)).toEqual([
      event(CONNECTION_EVENTS.created, connection, 'linked'),
      event(CONNECTION_EVENTS.expired, connection, 'refresh_failed'),
    ]);
  });

  it('a grant rejected once and accepted on the retry is refreshed: nothing expires', async () => {
    const connection = await t.connections.link(await newUser(), 'oura', grant());
    const fresh = token('access');
    let calls = 0;
    const outcome = await t.connections.refreshTokens(connection.id, async () => (++calls === 1 ? { rejected: true } : { accessToken: fresh }));
    expect(outcome).toEqual({ outcome: 'refreshed', accessToken: fresh });
    expect(calls).toBe(2);
    expect(await t.connections.getAccessToken(connection.id)).toBe(fresh);
    expect(eventsOf(connection.id)).toEqual([event(CONNECTION_EVENTS.created, connection, 'linked')]);
  });

  it('a rejection after another writer replaced the tokens (a racing rotation) takes the new tokens and does not expire', async () => {
    const userId = await newUser();
    const connection = await t.connections.link(userId, 'whoop', grant());
    const relinked = grant();
    const outcome = await t.connections.refreshTokens(connection.id, async () => {
      // While this refresher waited on the provider, the user connected again (new tokens).
      await t.connections.link(userId, 'whoop', relinked);
      return { rejected: true };
    });
    expect(outcome).toEqual({ outcome: 'already_refreshed', accessToken: relinked.accessToken });
    expect(await t.connections.getAccessToken(connection.id)).toBe(relinked.accessToken);
    expect((await stored(connection.id)).status).toBe('active');
  });

  it('holds no database connection while the refresher waits on the provider: other calls go on (one pooled connection on the embedded database)', async () => {
    const connection = await t.connections.link(await newUser(), 'garmin', grant());
    let release!: () => void;
    const waiting = new Promise<void>((resolve) => (release = resolve));
    const refresh = t.connections.refreshTokens(connection.id, async () => {
      await waiting;
      return { accessToken: token('access') };
    });
    await sleep(50);
    // These need a pooled connection each; with the refresh holding one, the embedded database would stall here.
    const started = Date.now();
    await t.connections.listForUser(connection.user_id);
    await t.connections.recordSync(connection.id);
    expect(Date.now() - started).toBeLessThan(5_000);
    release();
    expect((await refresh).outcome).toBe('refreshed');
  });

  it('an error thrown by the refresher propagates and leaves the connection and its tokens as they were', async () => {
    const g = grant();
    const connection = await t.connections.link(await newUser(), 'polar', g);
    const before = await stored(connection.id);
    const failure = new Error(`provider unreachable ${randomUUID()}`);
    const error = await rejection(
      t.connections.refreshTokens(connection.id, async () => {
        throw failure;
      }),
    );
    expect(error).toBe(failure);
    expect(await stored(connection.id)).toEqual(before);
    expect(await t.connections.getAccessToken(connection.id)).toBe(g.accessToken);
    expect(eventsOf(connection.id)).toEqual([event(CONNECTION_EVENTS.created, connection, 'linked')]);
    // And the connection can still be refreshed afterwards.
    const probe = recordingRefresher(() => ({ accessToken: token('access') }));
    expect((await t.connections.refreshTokens(connection.id, probe.refresher)).outcome).toBe('refreshed');
    expect(probe.handed[0]).toMatchObject({ accessToken: g.accessToken, refreshToken: g.refreshToken });
  });

  it('a refresher that returns no refresh token keeps the old one', async () => {
    const g = grant();
    const connection = await t.connections.link(await newUser(), 'coros', g);
    const a2 = token('access');
    const first = recordingRefresher(() => ({ accessToken: a2 }));
    expect(await t.connections.refreshTokens(connection.id, first.refresher)).toEqual({ outcome: 'refreshed', accessToken: a2 });
    expect(await t.connections.getAccessToken(connection.id)).toBe(a2);

    const second = recordingRefresher(() => ({ accessToken: token('access') }));
    await t.connections.refreshTokens(connection.id, second.refresher);
    expect(second.handed).toHaveLength(1);
    expect(second.handed[0]).toMatchObject({ accessToken: a2, refreshToken: g.refreshToken });
  });

  it('a refresher that returns a new refresh token replaces the old one', async () => {
    const connection = await t.connections.link(await newUser(), 'coros', grant());
    const r2 = token('refresh');
    await t.connections.refreshTokens(connection.id, recordingRefresher(() => ({ accessToken: token('access'), refreshToken: r2 })).refresher);
    const probe = recordingRefresher(() => ({ accessToken: token('access') }));
    await t.connections.refreshTokens(connection.id, probe.refresher);
    expect(probe.handed[0].refreshToken).toBe(r2);
  });

  it('refuses a revoked connection with ConnectionNotActiveError without calling the refresher', async () => {
    const connection = await t.connections.link(await newUser(), 'whoop', grant());
    await t.connections.markRevoked(connection.id, 'user_disconnected');
    const { refresher, handed } = recordingRefresher(() => ({ accessToken: token('access') }));
    expect(await rejection(t.connections.refreshTokens(connection.id, refresher))).toBeInstanceOf(ConnectionNotActiveError);
    expect(handed).toEqual([]);
    expect(await rejection(t.connections.refreshTokens(randomUUID(), refresher))).toBeInstanceOf(ConnectionNotFoundError);
  });

  it('announces an expired connection becoming active again through a refresh (every change of status is announced)', async () => {
    const connection = await t.connections.link(await newUser(), 'whoop', grant());
    await t.connections.markExpired(connection.id, 'token_lapsed');
    const eventsBefore = eventsOf(connection.id).length;
    await t.connections.refreshTokens(connection.id, recordingRefresher(() => ({ accessToken: token('access') })).refresher);
    expect((await t.connections.listForUser(connection.user_id))[0].status).toBe('active');
    // Which event is not spelled out; the consumer must hear of the change somehow.
    expect(eventsOf(connection.id).length, 'no event announced expired -> active').toBeGreaterThan(eventsBefore);
  });
});

// ---------------------------------------------------------------------------------------------
// A token that lapses with no refresh token
// ---------------------------------------------------------------------------------------------

describe('a lapsing token without a refresh token', () => {
  it('reads active until it lapses, expired from then on before any sweep, and expireLapsed stores it and announces it once', async () => {
    const userId = await newUser();
    const g = grant({ refreshToken: null, expiresAt: new Date(Date.now() + 1_000) });
    const connection = await t.connections.link(userId, 'suunto', g);

    expect((await t.connections.listForUser(userId)).map((row) => row.status)).toEqual(['active']);
    expect(await t.connections.getAccessToken(connection.id)).toBe(g.accessToken);

    await sleep(Math.max(0, g.expiresAt!.getTime() - Date.now()) + 200);

    expect((await t.connections.listForUser(userId)).map((row) => row.status)).toEqual(['expired']);
    expect(await t.connections.listForUser(userId, { status: 'active' })).toEqual([]);
    expect((await t.connections.listForUser(userId, { status: 'expired' })).map((row) => row.id)).toEqual([connection.id]);
    const error = await rejection(t.connections.getAccessToken(connection.id));
    expect(error).toBeInstanceOf(ConnectionNotActiveError);
    expect((error as ConnectionNotActiveError).connectionStatus).toBe('expired');
    expect((await stored(connection.id)).status).toBe('active'); // no sweep has run
    expect(eventsOf(connection.id)).toEqual([event(CONNECTION_EVENTS.created, connection, 'linked')]);

    expect(await t.connections.expireLapsed()).toBeGreaterThanOrEqual(1);
    expect(await stored(connection.id)).toMatchObject({ status: 'expired', status_reason: 'token_lapsed' });
    expect(await t.connections.expireLapsed()).toBe(0);
    expect(eventsOf(connection.id)).toEqual([
      event(CONNECTION_EVENTS.created, connection, 'linked'),
      event(CONNECTION_EVENTS.expired, connection, 'token_lapsed'),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Deleting a user
// ---------------------------------------------------------------------------------------------

describe('deleting a user', () => {
  it('emits connection.revoked reason user_deleted for each active connection and none for the others', async () => {
    const userId = await newUser();
    const garmin = await t.connections.link(userId, 'garmin', grant());
    const strava = await t.connections.link(userId, 'strava', grant());
    const polar = await t.connections.link(userId, 'polar', grant());
    const oura = await t.connections.link(userId, 'oura', grant());
    await t.connections.markRevoked(polar.id, 'user_disconnected');
    await t.connections.markExpired(oura.id, 'provider_deregistered');
    const before = t.worker.eventsForUser(userId).length;

    await t.users.delete(userId);

    const emitted = t.worker.eventsForUser(userId).slice(before);
    const byConnection = (a: ReceivedEvent, b: ReceivedEvent) => a.payload.connection_id.localeCompare(b.payload.connection_id);
    expect(emitted.sort(byConnection)).toEqual(
      [event(CONNECTION_EVENTS.revoked, garmin, 'user_deleted'), event(CONNECTION_EVENTS.revoked, strava, 'user_deleted')].sort(byConnection),
    );
    expect(await rejection(t.connections.listForUser(userId))).toBeInstanceOf(UserNotFoundError);
    expect(await rejection(t.connections.getAccessToken(garmin.id))).toBeInstanceOf(ConnectionNotFoundError);
  });

  it('is one transaction with the connections: if a part of it fails, nothing is deleted and nothing announced', async () => {
    const userId = await newUser();
    const g = grant();
    const garmin = await t.connections.link(userId, 'garmin', g);
    const before = t.worker.eventsForUser(userId).length;
    // Another module's part of the deletion, which fails after the connections' part has run.
    const events = t.app.get(EventEmitter2);
    const failing = async (event: UserDeletingEvent) => {
      expect(event.user_id).toBe(userId);
      throw new Error('the other part failed');
    };
    events.on(USER_EVENTS.deleting, failing);
    try {
      await expect(t.users.delete(userId)).rejects.toThrow('the other part failed');
    } finally {
      events.off(USER_EVENTS.deleting, failing);
    }
    expect((await t.users.get(userId)).id).toBe(userId);
    expect(await t.connections.listForUser(userId)).toEqual([garmin]);
    expect(await t.connections.getAccessToken(garmin.id)).toBe(g.accessToken);
    expect(t.worker.eventsForUser(userId).slice(before)).toEqual([]);

    await t.users.delete(userId);
    expect(t.worker.eventsForUser(userId).slice(before)).toEqual([event(CONNECTION_EVENTS.revoked, garmin, 'user_deleted')]);
  });

  it("fails, deleting nothing, when the connections' part fails", async () => {
    const userId = await newUser();
    const garmin = await t.connections.link(userId, 'garmin', grant());
    const before = t.worker.eventsForUser(userId).length;
    const failing = vi.spyOn(t.app.get(ConnectionsRepository), 'deleteForUser').mockRejectedValueOnce(new Error('connections part failed'));
    try {
      await expect(t.users.delete(userId)).rejects.toThrow('connections part failed');
      expect(failing).toHaveBeenCalledTimes(1);
    } finally {
      failing.mockRestore();
    }
    expect((await t.users.get(userId)).id).toBe(userId);
    expect(await t.connections.listForUser(userId)).toEqual([garmin]);
    expect(t.worker.eventsForUser(userId).slice(before)).toEqual([]);
  });

  it('of an unknown user, or of a string that is not a UUID, is UserNotFoundError and announces nothing', async () => {
    const received = t.worker.received.length;
    expect(await rejection(t.users.delete(randomUUID()))).toBeInstanceOf(UserNotFoundError);
    expect(await rejection(t.users.delete('not-a-uuid'))).toBeInstanceOf(UserNotFoundError);
    expect(t.worker.received.length).toBe(received);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'racing with links to the user: each link either fails with UserNotFoundError or its connection is deleted and announced (PostgreSQL only)',
    async () => {
      const userId = await newUser();
      const providers: Provider[] = ['garmin', 'strava', 'polar', 'oura', 'fitbit', 'withings'];
      const [links] = await Promise.all([
        Promise.allSettled(providers.map((provider) => t.connections.link(userId, provider, grant()))),
        sleep(5).then(() => t.users.delete(userId)),
      ]);
      const linked = links.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      for (const result of links) if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(UserNotFoundError);
      const revoked = t.worker.eventsForUser(userId).filter((e) => e.name === CONNECTION_EVENTS.revoked);
      expect(revoked.map((e) => e.payload.connection_id).sort()).toEqual(linked.map((c) => c.id).sort());
      expect(await t.sql.rows('SELECT 1 FROM connections WHERE user_id = $1', [userId])).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// upsert with status revoked, racing first writes
// ---------------------------------------------------------------------------------------------

describe('upsert', () => {
  it('with status revoked stores no tokens nor expiry, on a new connection and on one it replaces', async () => {
    const userId = await newUser();
    const created = await t.connections.upsert(userId, 'oura', { ...grant(), status: 'revoked' });
    expect(created).toMatchObject({ created: true, connection: { status: 'revoked' } });
    expect(await stored(created.connection.id)).toMatchObject({ access_token: null, refresh_token: null, token_expires_at: null });

    const active = await t.connections.link(userId, 'fitbit', grant());
    expect((await stored(active.id)).access_token).not.toBeNull();
    const replaced = await t.connections.upsert(userId, 'fitbit', { ...grant(), status: 'revoked' });
    expect(replaced).toMatchObject({ created: false, connection: { id: active.id, status: 'revoked' } });
    expect(await stored(active.id)).toMatchObject({ access_token: null, refresh_token: null, token_expires_at: null });
    expect(await rejection(t.connections.getAccessToken(active.id))).toBeInstanceOf(ConnectionNotActiveError);
    expect(eventsOf(active.id)).toEqual([
      event(CONNECTION_EVENTS.created, active, 'linked'),
      event(CONNECTION_EVENTS.revoked, active, 'imported'),
    ]);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'of 20 concurrent first links, exactly one reports created and one connection.created is emitted (PostgreSQL only: the embedded database runs one statement at a time, so nothing races on it)',
    async () => {
      const userId = await newUser();
      const grants = Array.from({ length: 20 }, () => grant());
      const results = await Promise.all(grants.map((g) => t.connections.upsert(userId, 'withings', g)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const [connection] = await t.connections.listForUser(userId);
      expect(new Set(results.map((r) => r.connection.id))).toEqual(new Set([connection.id]));
      expect(eventsOf(connection.id)).toEqual([event(CONNECTION_EVENTS.created, connection, 'linked')]);
      // The tokens stored are those of one of the calls, and readable.
      expect(grants.map((g) => g.accessToken)).toContain(await t.connections.getAccessToken(connection.id));
    },
  );
});

// ---------------------------------------------------------------------------------------------
// UUID arguments in either case, and arguments that are not UUIDs
// ---------------------------------------------------------------------------------------------

describe('UUID arguments', () => {
  const upper = (id: string) => id.toUpperCase();

  it('in upper case work as in lower case: tokens linked through one are read through the other', async () => {
    const userId = await newUser();
    const g = grant();
    const linked = await t.connections.link(upper(userId), 'garmin', g);
    expect(linked.user_id).toBe(userId);
    expect(linked.id).toBe(linked.id.toLowerCase());
    expect(await t.connections.getAccessToken(linked.id)).toBe(g.accessToken);
    expect(await t.connections.getAccessToken(upper(linked.id))).toBe(g.accessToken);
    expect(await t.connections.listForUser(upper(userId))).toEqual(await t.connections.listForUser(userId));
    expect(await t.connections.listForUser(upper(userId), { status: 'active' })).toEqual([linked]);

    const synced = await t.connections.recordSync(upper(linked.id), new Date('2024-05-01T12:00:00Z'));
    expect(synced).toMatchObject({ id: linked.id, last_synced_at: '2024-05-01T12:00:00Z' });

    const fresh = token('access');
    const { refresher, handed } = recordingRefresher(() => ({ accessToken: fresh }));
    expect(await t.connections.refreshTokens(upper(linked.id), refresher)).toEqual({ outcome: 'refreshed', accessToken: fresh });
    expect(handed[0]).toMatchObject({ accessToken: g.accessToken, refreshToken: g.refreshToken });
    expect(await t.connections.getAccessToken(linked.id)).toBe(fresh);

    const { connection: replaced, created } = await t.connections.upsert(upper(userId), 'garmin', { ...grant(), status: 'active' });
    expect(created).toBe(false);
    expect(replaced.id).toBe(linked.id);

    expect((await t.connections.markExpired(upper(linked.id), 'token_lapsed')).status).toBe('expired');
    expect((await t.connections.markRevoked(upper(linked.id), 'user_disconnected')).status).toBe('revoked');
    expect(await stored(linked.id)).toMatchObject({ access_token: null, refresh_token: null });

    const other = await t.connections.link(userId, 'strava', grant());
    expect((await t.connections.disconnect(upper(userId), 'strava')).status).toBe('revoked');
    expect(eventsOf(other.id).slice(-1)).toEqual([event(CONNECTION_EVENTS.revoked, other, 'user_disconnected')]);
    expect(eventsOf(linked.id).map((e) => e.payload.user_id)).toEqual(eventsOf(linked.id).map(() => userId));
  });

  it('that are not UUIDs get the method’s not-found error, not a database error', async () => {
    for (const id of ['not-a-uuid', '', `${randomUUID()}x`, randomUUID().replaceAll('-', ''), "'; DROP TABLE connections; --"]) {
      expect(await rejection(t.connections.listForUser(id)), id).toBeInstanceOf(UserNotFoundError);
      expect(await rejection(t.connections.link(id, 'garmin', grant())), id).toBeInstanceOf(UserNotFoundError);
      expect(await rejection(t.connections.upsert(id, 'garmin', grant())), id).toBeInstanceOf(UserNotFoundError);
      expect(await rejection(t.connections.disconnect(id, 'garmin')), id).toBeInstanceOf(UserNotFoundError);
      expect(await rejection(t.connections.recordSync(id)), id).toBeInstanceOf(ConnectionNotFoundError);
      expect(await rejection(t.connections.markRevoked(id, 'user_disconnected')), id).toBeInstanceOf(ConnectionNotFoundError);
      expect(await rejection(t.connections.markExpired(id, 'token_lapsed')), id).toBeInstanceOf(ConnectionNotFoundError);
      expect(await rejection(t.connections.getAccessToken(id)), id).toBeInstanceOf(ConnectionNotFoundError);
      const { refresher, handed } = recordingRefresher(() => ({ accessToken: token('access') }));
      expect(await rejection(t.connections.refreshTokens(id, refresher)), id).toBeInstanceOf(ConnectionNotFoundError);
      expect(handed).toEqual([]);
    }
    // And the service still answers.
    const userId = await newUser();
    expect(await t.connections.listForUser(userId)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The events a consumer receives
// ---------------------------------------------------------------------------------------------

describe('events received by the consumer module', () => {
  it('are exactly the expected ones, in order, for a scripted sequence of changes, and carry no token', async () => {
    const userId = await newUser();
    const tokens: string[] = [];
    const g = (overrides: Partial<Grant> = {}) => {
      const value = grant(overrides);
      tokens.push(value.accessToken, value.refreshToken ?? '');
      return value;
    };

    const garmin = await t.connections.link(userId, 'garmin', g());
    const strava = await t.connections.link(userId, 'strava', g());
    await t.connections.recordSync(garmin.id);
    await t.connections.markExpired(strava.id, 'provider_deregistered');
    await t.connections.markExpired(strava.id, 'provider_deregistered'); // nothing
    await t.connections.markRevoked(garmin.id, 'user_disconnected');
    await t.connections.markRevoked(garmin.id, 'user_disconnected'); // nothing
    await t.connections.markExpired(garmin.id, 'token_lapsed'); // nothing: stays revoked
    await t.connections.link(userId, 'garmin', g());
    const refreshed = token('access');
    tokens.push(refreshed);
    await t.connections.refreshTokens(garmin.id, async () => ({ accessToken: refreshed }));
    await t.connections.refreshTokens(garmin.id, async () => ({ rejected: true }));
    await t.connections.disconnect(userId, 'strava');
    await t.connections.disconnect(userId, 'strava'); // nothing
    const polar = await t.connections.link(userId, 'polar', g());
    await t.connections.recordSync(polar.id, new Date('2024-01-01T00:00:00Z'));
    await t.users.delete(userId);

    const received = t.worker.eventsForUser(userId);
    expect(received).toEqual([
      event(CONNECTION_EVENTS.created, garmin, 'linked'),
      event(CONNECTION_EVENTS.created, strava, 'linked'),
      event(CONNECTION_EVENTS.synced, garmin, 'synced'),
      event(CONNECTION_EVENTS.expired, strava, 'provider_deregistered'),
      event(CONNECTION_EVENTS.revoked, garmin, 'user_disconnected'),
      event(CONNECTION_EVENTS.created, garmin, 'relinked'),
      event(CONNECTION_EVENTS.expired, garmin, 'refresh_failed'),
      event(CONNECTION_EVENTS.revoked, strava, 'user_disconnected'),
      event(CONNECTION_EVENTS.created, polar, 'linked'),
      event(CONNECTION_EVENTS.synced, polar, 'synced'),
      event(CONNECTION_EVENTS.revoked, polar, 'user_deleted'),
    ]);
    for (const { payload } of received) {
      expect(Object.keys(payload).sort()).toEqual(EVENT_KEYS);
      const text = JSON.stringify(payload);
      for (const secret of tokens.filter(Boolean)) expect(text).not.toContain(secret);
    }
  });

  it('no token reaches the application logs', async () => {
    const g = grant();
    const connection = await t.connections.link(await newUser(), 'fitbit', g);
    await t.worker.syncUser(connection.user_id);
    await t.connections.refreshTokens(connection.id, async () => ({ accessToken: 'x'.repeat(8) + randomUUID() }));
    await t.connections.markRevoked(connection.id, 'user_disconnected');
    const logs = t.logs.join('\n');
    expect(logs).not.toContain(g.accessToken);
    expect(logs).not.toContain(g.refreshToken!);
  });
});
