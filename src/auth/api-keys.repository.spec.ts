import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/support/test-app.js';
import { ApiKeysRepository, type NewApiKey } from './api-keys.repository.js';
import type { Scope } from './scopes.js';

// Against a real database (embedded, or a new one on DATABASE_URL), migrated as the service runs it.
let t: TestApp;
let keys: ApiKeysRepository;

beforeAll(async () => {
  t = await startTestApp();
  keys = t.app.get(ApiKeysRepository);
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  // Each test starts from an empty table (the application registered its bootstrap key at start-up).
  await t.query('DELETE FROM api_keys');
});

function newKey(scopes: Scope[] = ['read'], expiresAt: Date | null = null): NewApiKey {
  const keyHash = randomBytes(32).toString('hex');
  return { name: `key-${randomUUID()}`, prefix: `sha256:${keyHash.slice(0, 8)}`, keyHash, scopes, expiresAt };
}

const PAST = new Date('2020-01-01T00:00:00Z');
const FUTURE = new Date('2999-01-01T00:00:00Z');

async function storedRow(id: string): Promise<Record<string, unknown>> {
  const [row] = await t.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = $1', [id]);
  return row;
}

describe('ApiKeysRepository', () => {
  it('inserts a key and returns its row: every column but the hash', async () => {
    const key = newKey(['read', 'write'], FUTURE);
    const row = await keys.insert(key);
    expect(Object.keys(row).sort()).toEqual(['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at', 'scopes']);
    expect(row).toMatchObject({ name: key.name, prefix: key.prefix, scopes: ['read', 'write'], last_used_at: null, revoked_at: null });
    expect(row.expires_at).toEqual(FUTURE);
    expect(row.created_at).toBeInstanceOf(Date);
    expect(await storedRow(row.id)).toMatchObject({ key_hash: key.keyHash, prefix: key.prefix });
  });

  it('inserts a key unless one with its hash exists, saying whether it did', async () => {
    const key = newKey(['admin']);
    expect(await keys.insertIfAbsent(key)).toBe(true);
    expect(await keys.insertIfAbsent({ ...key, name: 'another name' })).toBe(false);
    const rows = await t.query<{ name: string; scopes: Scope[]; expires_at: Date | null }>('SELECT name, scopes, expires_at FROM api_keys');
    expect(rows).toEqual([{ name: key.name, scopes: ['admin'], expires_at: null }]);
  });

  it('lists every key, revoked and expired ones too, newest first', async () => {
    const first = await keys.insert(newKey());
    await sleep(5);
    const second = await keys.insert(newKey(['admin'], PAST));
    await sleep(5);
    const third = await keys.insert(newKey());
    await keys.transaction((tx) => tx.revoke(third.id));
    expect((await keys.list()).map((row) => row.id)).toEqual([third.id, second.id, first.id]);
    expect(await keys.count()).toBe(3);
  });

  it('finds a key that authenticates by its hash and stamps its last use; not one unknown, revoked or expired', async () => {
    const key = newKey(['write'], FUTURE);
    const row = await keys.insert(key);
    expect(await keys.useActive(key.keyHash)).toEqual({ id: row.id, scopes: ['write'], expires_at: FUTURE });
    expect((await storedRow(row.id)).last_used_at).toBeInstanceOf(Date);

    const expired = newKey(['admin'], PAST);
    await keys.insert(expired);
    expect(await keys.useActive(expired.keyHash)).toBeUndefined();

    const revoked = newKey(['admin']);
    const revokedRow = await keys.insert(revoked);
    await keys.transaction((tx) => tx.revoke(revokedRow.id));
    expect(await keys.useActive(revoked.keyHash)).toBeUndefined();
    expect((await storedRow(revokedRow.id)).last_used_at).toBeNull();

    expect(await keys.useActive(randomBytes(32).toString('hex'))).toBeUndefined();
  });

  it('tells whether an active admin key exists: not revoked, not expired, with the admin scope', async () => {
    expect(await keys.hasActiveAdmin()).toBe(false);
    await keys.insert(newKey(['read', 'write']));
    await keys.insert(newKey(['admin'], PAST));
    const revoked = await keys.insert(newKey(['admin']));
    await keys.transaction((tx) => tx.revoke(revoked.id));
    expect(await keys.hasActiveAdmin()).toBe(false);
    await keys.insert(newKey(['read', 'admin'], FUTURE));
    expect(await keys.hasActiveAdmin()).toBe(true);
  });

  describe('in a transaction', () => {
    it('lists the active admin keys in id order', async () => {
      const admins = [await keys.insert(newKey(['admin'])), await keys.insert(newKey(['write', 'admin'], FUTURE))];
      await keys.insert(newKey(['write']));
      await keys.insert(newKey(['admin'], PAST));
      const revoked = await keys.insert(newKey(['admin']));
      await keys.transaction((tx) => tx.revoke(revoked.id));
      expect(await keys.transaction((tx) => tx.lockActiveAdminIds())).toEqual(admins.map((row) => row.id).sort());
    });

    it('revokes a key once: a repeat keeps the first revocation time; an unknown id is not found', async () => {
      const row = await keys.insert(newKey());
      expect(await keys.transaction((tx) => tx.revoke(row.id))).toBe(true);
      const revokedAt = (await storedRow(row.id)).revoked_at as Date;
      expect(revokedAt).toBeInstanceOf(Date);
      await sleep(5);
      expect(await keys.transaction((tx) => tx.revoke(row.id))).toBe(true);
      expect((await storedRow(row.id)).revoked_at).toEqual(revokedAt);
      expect(await keys.transaction((tx) => tx.revoke(randomUUID()))).toBe(false);
    });

    it('rolls back when the work throws', async () => {
      const row = await keys.insert(newKey(['admin']));
      const failed = keys.transaction(async (tx) => {
        await tx.revoke(row.id);
        throw new Error('changed my mind');
      });
      await expect(failed).rejects.toThrow('changed my mind');
      expect((await storedRow(row.id)).revoked_at).toBeNull();
    });

    it('holds the admin keys it listed: another transaction listing them waits until it ends, then sees its changes', async () => {
      const [a, b] = [await keys.insert(newKey(['admin'])), await keys.insert(newKey(['admin']))];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let firstListed!: () => void;
      const listed = new Promise<void>((resolve) => (firstListed = resolve));

      const first = keys.transaction(async (tx) => {
        const ids = await tx.lockActiveAdminIds();
        firstListed();
        await released;
        await tx.revoke(a.id);
        return ids;
      });
      await listed;
      let secondIds: string[] | undefined;
      const second = keys.transaction((tx) => tx.lockActiveAdminIds()).then((ids) => (secondIds = ids));
      await sleep(300);
      expect(secondIds, 'the second transaction did not wait').toBeUndefined();
      release();
      expect(await first).toEqual([a.id, b.id].sort());
      await second;
      expect(secondIds).toEqual([b.id]);
    });
  });
});

