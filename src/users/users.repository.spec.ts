/**
 * UsersRepository against a real, migrated database (embedded, or a fresh one on DATABASE_URL).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import { User } from './user.entity.js';
import { UsersRepository } from './users.repository.js';

const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

let module: RepositoryModule;
let repository: UsersRepository;
let dataSource: DataSource;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [UsersRepository], entities: [User] });
  repository = module.moduleRef.get(UsersRepository);
  dataSource = module.dataSource;
});

afterAll(() => module?.close());

async function insert(values: { id?: string; externalUserId?: string | null } = {}): Promise<User> {
  const result = await repository.insert({ externalUserId: null, email: null, ...values });
  if (!('user' in result)) throw new Error(`duplicate ${result.duplicate}`);
  return result.user;
}

describe('insert', () => {
  it('fills in the generated id and times, or keeps the given id', async () => {
    const generated = await insert();
    expect(generated.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.createdAt).toBeInstanceOf(Date);
    expect(generated.updatedAt).toBeInstanceOf(Date);
    expect(await repository.findById(generated.id)).toEqual(generated);

    const id = randomUUID();
    expect((await insert({ id })).id).toBe(id);
  });

  it('names the unique field an existing user already holds, and stores nothing', async () => {
    const external = `app-${randomUUID()}`;
    const existing = await insert({ externalUserId: external });
    expect(await repository.insert({ id: existing.id, externalUserId: null, email: 'a@example.com' })).toEqual({ duplicate: 'id' });
    const id = randomUUID();
    expect(await repository.insert({ id, externalUserId: external, email: null })).toEqual({ duplicate: 'external_user_id' });
    expect(await repository.exists(id)).toBe(false);
  });
});

describe('insertIfAbsent', () => {
  it('inserts the user with its own times once; an existing user is left exactly as it is', async () => {
    const id = randomUUID();
    const createdAt = new Date('2023-12-01T09:00:00Z');
    const updatedAt = new Date('2024-03-15T10:30:00Z');
    expect(await repository.insertIfAbsent({ id, externalUserId: null, email: null, createdAt, updatedAt })).toBe(true);
    expect(await repository.findById(id)).toMatchObject({ id, createdAt, updatedAt });

    expect(await repository.insertIfAbsent({ id, externalUserId: null, email: 'x@example.com', createdAt: new Date(), updatedAt: new Date() })).toBe(false);
    expect(await repository.findById(id)).toMatchObject({ id, email: null, createdAt, updatedAt });
  });
});

describe('lookups', () => {
  it('findById and exists tell an existing user from an unknown one', async () => {
    const user = await insert();
    expect(await repository.findById(user.id)).toEqual(user);
    expect(await repository.exists(user.id)).toBe(true);
    expect(await repository.findById(randomUUID())).toBeNull();
    expect(await repository.exists(randomUUID())).toBe(false);
  });

  it('listAfter pages through the users in id order', async () => {
    for (let i = 0; i < 5; i++) await insert();
    const all = (await dataSource.query(`SELECT id FROM users ORDER BY id`)) as { id: string }[];
    const ids = all.map((row) => row.id);
    expect((await repository.listAfter(undefined, 3)).map((user) => user.id)).toEqual(ids.slice(0, 3));
    expect((await repository.listAfter(ids[1], 2)).map((user) => user.id)).toEqual(ids.slice(2, 4));
    expect(await repository.listAfter(ids[ids.length - 1], 10)).toEqual([]);
  });
});

describe('deletion', () => {
  it('lockForDeletion answers whether the user exists; delete removes it once committed, not when rolled back', async () => {
    const user = await insert();
    expect(await repository.transaction((manager) => repository.lockForDeletion(manager, randomUUID()))).toBe(false);

    await expect(
      repository.transaction(async (manager) => {
        expect(await repository.lockForDeletion(manager, user.id)).toBe(true);
        await repository.delete(manager, user.id);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await repository.exists(user.id)).toBe(true);

    await repository.transaction(async (manager) => {
      expect(await repository.lockForDeletion(manager, user.id)).toBe(true);
      await repository.delete(manager, user.id);
    });
    expect(await repository.exists(user.id)).toBe(false);
  });

  it.skipIf(!ON_POSTGRESQL)(
    'lockForDeletion keeps a connection from being added to the user until the deletion ends (PostgreSQL only: one session embedded)',
    async () => {
      const user = await insert();
      const other = new pg.Client({ connectionString: module.databaseUrl });
      await other.connect();
      try {
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let locked = false;
        const deletion = repository.transaction(async (manager) => {
          await repository.lockForDeletion(manager, user.id);
          locked = true;
          await held;
          await repository.delete(manager, user.id);
        });
        while (!locked) await sleep(10);
        let settled = false;
        const attach = other
          .query(`INSERT INTO connections (user_id, provider) VALUES ($1, 'garmin')`, [user.id])
          .finally(() => (settled = true));
        attach.catch(() => undefined);
        await sleep(300);
        expect(settled, 'the insert did not wait for the lock').toBe(false);
        release();
        await deletion;
        await expect(attach).rejects.toMatchObject({ code: '23503' });
        expect(await dataSource.query(`SELECT 1 FROM connections WHERE user_id = $1`, [user.id])).toEqual([]);
      } finally {
        await other.end();
      }
    },
  );
});
