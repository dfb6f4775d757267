/**
 * ConnectionsRepository against a real, migrated database (embedded, or a fresh one on DATABASE_URL):
 * what each statement promises, apart from the service's rules and events.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import { Sql } from '../database/sql.js';
import { User } from '../users/user.entity.js';
import { Connection } from './connection.entity.js';
import { type ConnectionValues, ConnectionsRepository } from './connections.repository.js';
import type { Provider } from './providers.js';

const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

let module: RepositoryModule;
let repository: ConnectionsRepository;
let dataSource: DataSource;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [ConnectionsRepository], entities: [Connection] });
  repository = module.moduleRef.get(ConnectionsRepository);
  dataSource = module.dataSource;
});

afterAll(() => module?.close());

async function newUser(): Promise<string> {
  const id = randomUUID();
  await dataSource.getRepository(User).insert({ id });
  return id;
}

function values(userId: string, provider: Provider, overrides: Partial<ConnectionValues> = {}): ConnectionValues {
  return {
    userId,
    provider,
    accessToken: `sealed-access-${randomUUID()}`,
    refreshToken: `sealed-refresh-${randomUUID()}`,
    tokenExpiresAt: new Date(Date.now() + 3_600_000),
    providerUserId: null,
    providerUsername: null,
    scope: null,
    status: 'active',
    lastSyncedAt: null,
    ...overrides,
  };
}

async function insert(userId: string, provider: Provider, overrides: Partial<ConnectionValues> = {}): Promise<string> {
  const row = await repository.upsert(values(userId, provider, overrides));
  expect(row?.previous).toBeNull();
  return row!.id;
}

interface Stored {
  status: string;
  status_reason: string | null;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: Date | null;
  token_version: number;
  last_synced_at: Date | null;
}

async function stored(id: string): Promise<Stored> {
  const rows = (await dataSource.query(
    `SELECT status, status_reason, access_token, refresh_token, token_expires_at, token_version, last_synced_at FROM connections WHERE id = $1`,
    [id],
  )) as Stored[];
  expect(rows).toHaveLength(1);
  return rows[0];
}

const PAST = new Date('2020-01-01T00:00:00Z');

describe('listForUser', () => {
  it('answers null for an unknown user and [] for a user without connections, with or without filters', async () => {
    const unknown = randomUUID();
    expect(await repository.listForUser(unknown, null, null)).toBeNull();
    expect(await repository.listForUser(unknown, 'active', null)).toBeNull();
    expect(await repository.listForUser(unknown, null, 'garmin')).toBeNull();

    const userId = await newUser();
    expect(await repository.listForUser(userId, null, null)).toEqual([]);
    expect(await repository.listForUser(userId, 'active', 'garmin')).toEqual([]);

    await insert(userId, 'garmin');
    expect(await repository.listForUser(userId, 'revoked', null)).toEqual([]);
    expect(await repository.listForUser(userId, null, 'strava')).toEqual([]);
  });

  it('orders the most recently synced first, never-synced last, ties by provider name', async () => {
    const userId = await newUser();
    const later = new Date('2024-03-15T10:30:00Z');
    const earlier = new Date('2024-03-01T00:00:00Z');
    await insert(userId, 'polar');
    await insert(userId, 'strava', { lastSyncedAt: later });
    await insert(userId, 'garmin', { lastSyncedAt: earlier });
    await insert(userId, 'coros');
    await insert(userId, 'fitbit', { lastSyncedAt: later });
    const rows = await repository.listForUser(userId, null, null);
    expect(rows!.map((row) => row.provider)).toEqual(['fitbit', 'strava', 'garmin', 'coros', 'polar']);
    expect((await repository.listForUser(userId, 'active', null))!.map((row) => row.provider)).toEqual([
      'fitbit',
      'strava',
      'garmin',
      'coros',
      'polar',
    ]);
  });

  it('reads the times as UTC text, as PostgreSQL writes a timestamp, and never a token', async () => {
    const userId = await newUser();
    await insert(userId, 'garmin', { lastSyncedAt: new Date('2024-03-15T10:30:00.250Z') });
    await insert(userId, 'oura', { lastSyncedAt: new Date('2024-03-15T10:29:00Z') });
    const [garmin, oura] = (await repository.listForUser(userId, null, null))!;
    expect(garmin.last_synced_at).toBe('2024-03-15 10:30:00.25');
    expect(oura.last_synced_at).toBe('2024-03-15 10:29:00');
    expect(garmin.created_at).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/);
    const [{ created_at: createdAt }] = (await dataSource.query(`SELECT created_at FROM connections WHERE id = $1`, [garmin.id])) as {
      created_at: Date;
    }[];
    expect(new Date(`${garmin.created_at.replace(' ', 'T')}Z`).getTime()).toBe(createdAt.getTime());
    expect(Object.keys(garmin).sort()).toEqual(
      ['id', 'user_id', 'provider', 'provider_user_id', 'provider_username', 'scope', 'status', 'last_synced_at', 'created_at', 'updated_at'].sort(),
    );
  });

  it('reports and filters an active connection whose token lapsed with no refresh token as expired', async () => {
    const userId = await newUser();
    const lapsed = await insert(userId, 'suunto', { refreshToken: null, tokenExpiresAt: PAST });
    const refreshable = await insert(userId, 'whoop', { tokenExpiresAt: PAST });
    const statuses = Object.fromEntries((await repository.listForUser(userId, null, null))!.map((row) => [row.id, row.status]));
    expect(statuses).toEqual({ [lapsed]: 'expired', [refreshable]: 'active' });
    expect((await repository.listForUser(userId, 'expired', null))!.map((row) => row.id)).toEqual([lapsed]);
    expect((await repository.listForUser(userId, 'active', null))!.map((row) => row.id)).toEqual([refreshable]);
    expect((await stored(lapsed)).status).toBe('active');
  });

  it('runs one statement, a named (prepared) one, filtered or not', async () => {
    const userId = await newUser();
    await insert(userId, 'garmin');
    const sql = module.moduleRef.get(Sql);
    const rows = vi.spyOn(sql, 'rows');
    const transaction = vi.spyOn(sql, 'transaction');
    try {
      await repository.listForUser(userId, null, null);
      await repository.listForUser(userId, 'active', 'garmin');
      expect(rows.mock.calls.map((call) => call[2])).toEqual(['connections_list_for_user', 'connections_list_for_user_filtered']);
      expect(transaction).not.toHaveBeenCalled();
    } finally {
      rows.mockRestore();
      transaction.mockRestore();
    }
  });
});

describe('upsert', () => {
  it('reports previous null when it creates, and the status it replaced when it replaces, keeping id and last sync', async () => {
    const userId = await newUser();
    const syncedAt = new Date('2024-01-01T00:00:00Z');
    const created = await repository.upsert(values(userId, 'garmin', { lastSyncedAt: syncedAt, scope: 'a' }));
    expect(created).toMatchObject({ previous: null, status: 'active', scope: 'a', last_synced_at: '2024-01-01 00:00:00' });

    const replaced = await repository.upsert(values(userId, 'garmin', { scope: null, status: 'expired' }));
    expect(replaced).toMatchObject({ id: created!.id, previous: 'active', status: 'expired', scope: null, last_synced_at: '2024-01-01 00:00:00' });
    expect(replaced!.created_at).toBe(created!.created_at);
    expect((await stored(created!.id)).token_version).toBe(1);
  });

  it('answers null for an unknown user, and the connection is not stored', async () => {
    const userId = randomUUID();
    expect(await repository.upsert(values(userId, 'garmin'))).toBeNull();
    expect(await dataSource.query(`SELECT 1 FROM connections WHERE user_id = $1`, [userId])).toEqual([]);
  });
});

describe('revoke', () => {
  it('revokes and erases both tokens and the expiry; again, it changes nothing and answers undefined', async () => {
    const userId = await newUser();
    const id = await insert(userId, 'polar');
    const revoked = await repository.revoke(id, 'user_disconnected');
    expect(revoked).toMatchObject({ id, status: 'revoked', previous: 'active' });
    const after = await stored(id);
    expect(after).toMatchObject({ status: 'revoked', status_reason: 'user_disconnected', access_token: null, refresh_token: null, token_expires_at: null });

    expect(await repository.revoke(id, 'refresh_failed')).toBeUndefined();
    expect(await stored(id)).toEqual(after);
    expect(await repository.revoke(randomUUID(), 'user_disconnected')).toBeUndefined();
  });
});

describe('expire', () => {
  it('expires an active connection, keeping its tokens, and leaves a revoked or expired one alone', async () => {
    const userId = await newUser();
    const active = await insert(userId, 'garmin');
    const before = await stored(active);
    expect(await repository.expire(active, 'provider_deregistered')).toMatchObject({ id: active, status: 'expired', previous: 'active' });
    expect(await stored(active)).toMatchObject({
      status: 'expired',
      status_reason: 'provider_deregistered',
      access_token: before.access_token,
      refresh_token: before.refresh_token,
    });
    expect(await repository.expire(active, 'token_lapsed')).toBeUndefined();

    const revoked = await insert(userId, 'strava', { status: 'revoked', accessToken: null, refreshToken: null, tokenExpiresAt: null });
    expect(await repository.expire(revoked, 'token_lapsed')).toBeUndefined();
    expect((await stored(revoked)).status).toBe('revoked');
  });
});

describe('sweepLapsed', () => {
  it('stores expired on active connections whose token lapsed with no refresh token, and on no other', async () => {
    const userId = await newUser();
    const lapsed = await insert(userId, 'garmin', { refreshToken: null, tokenExpiresAt: PAST });
    const refreshable = await insert(userId, 'strava', { tokenExpiresAt: PAST });
    const current = await insert(userId, 'polar', { refreshToken: null, tokenExpiresAt: new Date(Date.now() + 3_600_000) });
    const noExpiry = await insert(userId, 'oura', { refreshToken: null, tokenExpiresAt: null });
    const expired = await insert(userId, 'whoop', { refreshToken: null, tokenExpiresAt: PAST, status: 'expired' });
    const revoked = await insert(userId, 'coros', { status: 'revoked', accessToken: null, refreshToken: null, tokenExpiresAt: null });

    const swept = await repository.sweepLapsed();
    expect(swept.filter((row) => row.user_id === userId).map((row) => [row.id, row.status])).toEqual([[lapsed, 'expired']]);
    expect(await stored(lapsed)).toMatchObject({ status: 'expired', status_reason: 'token_lapsed' });
    expect((await stored(lapsed)).access_token).not.toBeNull();
    for (const id of [refreshable, current, noExpiry]) expect((await stored(id)).status).toBe('active');
    expect((await stored(expired)).status_reason).toBeNull();
    expect((await stored(revoked)).status).toBe('revoked');

    expect((await repository.sweepLapsed()).filter((row) => row.user_id === userId)).toEqual([]);
  });
});

describe('recordSync', () => {
  it('stamps a later sync, never an earlier one; undefined for no connection', async () => {
    const userId = await newUser();
    const id = await insert(userId, 'fitbit');
    expect((await repository.recordSync(id, new Date('2024-05-01T12:00:00Z')))!.last_synced_at).toBe('2024-05-01 12:00:00');
    expect((await repository.recordSync(id, new Date('2024-04-01T12:00:00Z')))!.last_synced_at).toBe('2024-05-01 12:00:00');
    expect(await repository.recordSync(randomUUID(), new Date())).toBeUndefined();
  });
});

describe('lookups', () => {
  it('find a connection by id, by user and provider, by provider account, its access token and its token version', async () => {
    const userId = await newUser();
    const account = `account-${randomUUID()}`;
    const id = await insert(userId, 'withings', { providerUserId: account, accessToken: 'sealed-a' });
    const other = await insert(await newUser(), 'withings', { providerUserId: account });

    expect((await repository.findById(id))!.id).toBe(id);
    expect(await repository.findById(randomUUID())).toBeUndefined();
    expect(await repository.findId(userId, 'withings')).toBe(id);
    expect(await repository.findId(userId, 'garmin')).toBeUndefined();
    expect((await repository.findByProviderUser('withings', account)).map((row) => row.id)).toEqual([id, other]);
    expect(await repository.findAccessToken(id)).toEqual({ user_id: userId, provider: 'withings', status: 'active', access_token: 'sealed-a' });
    expect(await repository.findAccessToken(randomUUID())).toBeUndefined();
    expect((await repository.refreshState(id))!.token_version).toBe(0);
    const revoked = await repository.revoke(id, 'user_disconnected');
    // The revocation answers the sealed token it erased (for the deregistration) and the new version.
    expect(revoked).toMatchObject({ status: 'revoked', previous: 'active', previous_access_token: 'sealed-a', token_version: 1 });
    expect((await repository.refreshState(id))!.token_version).toBe(1);
    expect(await repository.refreshState(randomUUID())).toBeUndefined();
  });
});

describe('refresh leases', () => {
  const soon = () => new Date(Date.now() + 60_000);

  it('claimRefresh: one caller wins the lease; a lapsed lease can be claimed again; a revoked connection never', async () => {
    const userId = await newUser();
    const id = await insert(userId, 'garmin', { accessToken: 'sealed-old', refreshToken: 'sealed-r', tokenExpiresAt: PAST });
    const [first, second] = await Promise.all([repository.claimRefresh(id, 60), repository.claimRefresh(id, 60)]);
    const won = [first, second].filter(Boolean);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ id, user_id: userId, provider: 'garmin', status: 'active', access_token: 'sealed-old', refresh_token: 'sealed-r', token_version: 0, refresh_failures: 0 });
    expect(await repository.refreshState(id)).toMatchObject({ leased: true, token_version: 0 });
    // A lease that lapsed (its holder died) is taken again.
    await dataSource.query(`UPDATE connections SET refresh_lease_until = now() - interval '1 second' WHERE id = $1`, [id]);
    expect(await repository.refreshState(id)).toMatchObject({ leased: false });
    expect(await repository.claimRefresh(id, 60)).toBeDefined();
    await repository.releaseRefresh(id, 0);
    expect(await repository.refreshState(id)).toMatchObject({ leased: false, token_version: 0 });

    const gone = await insert(await newUser(), 'polar');
    await repository.revoke(gone, 'user_disconnected');
    expect(await repository.claimRefresh(gone, 60)).toBeUndefined();
    expect(await repository.claimRefresh(randomUUID(), 60)).toBeUndefined();
  });

  it('storeRefreshed writes both tokens only at the version claimed, clears the lease and the retry state', async () => {
    const id = await insert(await newUser(), 'whoop');
    const claim = (await repository.claimRefresh(id, 60))!;
    await repository.deferRefresh(id, claim.token_version, soon());
    expect(await stored(id)).toMatchObject({ token_version: 0 });
    const expiresAt = new Date('2030-01-01T00:00:00Z');
    expect(await repository.storeRefreshed(id, 0, 'sealed-new', 'sealed-new-r', expiresAt)).toMatchObject({ id, status: 'active' });
    expect(await stored(id)).toMatchObject({ access_token: 'sealed-new', refresh_token: 'sealed-new-r', token_expires_at: expiresAt, token_version: 1 });
    const [state] = await dataSource.query(`SELECT refresh_lease_until, refresh_retry_at, refresh_failures FROM connections WHERE id = $1`, [id]);
    expect(state).toEqual({ refresh_lease_until: null, refresh_retry_at: null, refresh_failures: 0 });
    // A stale version writes nothing.
    expect(await repository.storeRefreshed(id, 0, 'sealed-stale', null, null)).toBeUndefined();
    expect(await stored(id)).toMatchObject({ access_token: 'sealed-new', token_version: 1 });
  });

  it('expireRefreshFailed: expired with reason refresh_failed and the tokens erased, only at the version claimed', async () => {
    const id = await insert(await newUser(), 'oura');
    expect(await repository.expireRefreshFailed(id, 7)).toBeUndefined();
    expect(await repository.expireRefreshFailed(id, 0)).toMatchObject({ id, status: 'expired' });
    expect(await stored(id)).toMatchObject({ status: 'expired', status_reason: 'refresh_failed', access_token: null, refresh_token: null, token_expires_at: null, token_version: 1 });
  });

  it('claimDue takes only due, refreshable, unheld connections not waiting for a retry, soonest first, and leases them', async () => {
    const userId = await newUser();
    const inFive = new Date(Date.now() + 5 * 60_000);
    const inOne = new Date(Date.now() + 60_000);
    const due = await insert(userId, 'garmin', { tokenExpiresAt: inFive });
    const sooner = await insert(userId, 'strava', { tokenExpiresAt: inOne });
    await insert(userId, 'whoop', { tokenExpiresAt: new Date(Date.now() + 3_600_000) }); // not due within 600 s
    await insert(userId, 'oura', { tokenExpiresAt: inOne, refreshToken: null }); // nothing to refresh with
    await insert(userId, 'coros', { tokenExpiresAt: inOne }); // an excluded provider
    const waiting = await insert(userId, 'withings', { tokenExpiresAt: inOne });
    await repository.deferRefresh(waiting, 0, new Date(Date.now() + 3_600_000));
    const expired = await insert(userId, 'suunto', { tokenExpiresAt: inOne });
    await repository.expire(expired, 'token_lapsed');

    const mine = <T extends { user_id: string }>(rows: T[]) => rows.filter((row) => row.user_id === userId);
    const claimed = mine(await repository.claimDue(600, 100, 60, ['coros', 'polar']));
    expect(claimed.map((row) => row.id)).toEqual([sooner, due]);
    // Held now: a second scan (another instance) gets neither.
    expect(mine(await repository.claimDue(600, 100, 60, ['coros', 'polar']))).toEqual([]);
    // Given back with a retry time in the past: due again.
    await repository.deferRefresh(due, 0, PAST);
    expect(mine(await repository.claimDue(600, 100, 60, ['coros']))).toEqual([expect.objectContaining({ id: due, refresh_failures: 1 })]);
  });

  it.skipIf(!ON_POSTGRESQL)('claimDue run by many callers at once never hands one connection to two of them (PostgreSQL only)', async () => {
    const userId = await newUser();
    const ids = [];
    for (const provider of ['garmin', 'strava', 'whoop', 'oura', 'withings', 'suunto', 'fitbit'] as const) {
      ids.push(await insert(userId, provider, { tokenExpiresAt: new Date(Date.now() + 1000) }));
    }
    const scans = await Promise.all(Array.from({ length: 6 }, () => repository.claimDue(600, 2, 60, [])));
    const claimed = scans.flat().filter((row) => row.user_id === userId).map((row) => row.id);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.sort()).toEqual(ids.sort());
  });

  it('the scan reads the refresh index, not the table', async () => {
    const [plan] = await dataSource.query(
      `EXPLAIN (FORMAT JSON) SELECT id FROM connections WHERE status = 'active' AND refresh_token IS NOT NULL AND token_expires_at <= now() + interval '600 seconds' ORDER BY token_expires_at LIMIT 4`,
    );
    await dataSource.query('SET enable_seqscan = off');
    try {
      const [forced] = await dataSource.query(
        `EXPLAIN (FORMAT JSON) SELECT id FROM connections WHERE status = 'active' AND refresh_token IS NOT NULL AND token_expires_at <= now() + interval '600 seconds' ORDER BY token_expires_at LIMIT 4`,
      );
      expect(JSON.stringify(forced)).toContain('ix_connections_refresh_due');
    } finally {
      await dataSource.query('SET enable_seqscan = on');
    }
    expect(plan).toBeDefined();
  });
});

describe('deleteForUser', () => {
  it("deletes the user's connections, tokens and all, in the caller's transaction, answering the status each had", async () => {
    const userId = await newUser();
    const active = await insert(userId, 'garmin');
    const lapsed = await insert(userId, 'strava', { refreshToken: null, tokenExpiresAt: PAST });
    const revoked = await insert(userId, 'polar', { status: 'revoked', accessToken: null, refreshToken: null, tokenExpiresAt: null });
    const kept = await insert(await newUser(), 'garmin');

    // Rolled back: nothing is deleted.
    await expect(
      dataSource.transaction(async (manager) => {
        expect(await repository.deleteForUser(manager, userId)).toHaveLength(3);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await repository.listForUser(userId, null, null))!).toHaveLength(3);

    const deleted = await dataSource.transaction((manager) => repository.deleteForUser(manager, userId));
    const byId = Object.fromEntries(deleted.map((row) => [row.id, row]));
    expect(byId).toMatchObject({
      [active]: { id: active, user_id: userId, provider: 'garmin', provider_user_id: null, status: 'active', access_token: expect.stringMatching(/^sealed-access-/), token_version: 0 },
      [lapsed]: { id: lapsed, user_id: userId, provider: 'strava', provider_user_id: null, status: 'expired', access_token: expect.stringMatching(/^sealed-access-/), token_version: 0 },
      [revoked]: { id: revoked, user_id: userId, provider: 'polar', provider_user_id: null, status: 'revoked', access_token: null, token_version: 0 },
    });
    // Each with what the spec's object shows, for the events that announce the deletion.
    expect(Object.keys(byId[active]).sort()).toEqual(
      ['access_token', 'created_at', 'id', 'last_synced_at', 'provider', 'provider_user_id', 'provider_username', 'scope', 'status', 'token_version', 'updated_at', 'user_id'],
    );
    expect(await repository.listForUser(userId, null, null)).toEqual([]);
    expect(await repository.findById(kept)).toBeDefined();
    expect(await dataSource.transaction((manager) => repository.deleteForUser(manager, userId))).toEqual([]);
  });
});

describe('insertImported', () => {
  it('stores connections as given, ids and times included', async () => {
    const userId = await newUser();
    const id = randomUUID();
    await repository.insertImported([
      {
        id,
        userId,
        provider: 'coros',
        providerUserId: 'c-1',
        providerUsername: 'runner',
        scope: 'read',
        status: 'expired',
        lastSyncedAt: new Date('2024-02-20T16:45:00Z'),
        createdAt: new Date('2023-12-01T09:00:00Z'),
        updatedAt: new Date('2024-02-28T12:00:00Z'),
      },
    ]);
    expect(await repository.findById(id)).toEqual({
      id,
      user_id: userId,
      provider: 'coros',
      provider_user_id: 'c-1',
      provider_username: 'runner',
      scope: 'read',
      status: 'expired',
      last_synced_at: '2024-02-20 16:45:00',
      created_at: '2023-12-01 09:00:00',
      updated_at: '2024-02-28 12:00:00',
    });
  });
});
