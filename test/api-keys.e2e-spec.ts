import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { Logger } from 'nestjs-pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { KeyLabelsFromHash1795510000000 } from '../src/database/migrations/1795510000000-KeyLabelsFromHash.js';
import { type CreatedKey, INVALID_KEY_BODY, ISO_UTC, type Scope, UUID } from './support/contract.js';
import { expectError, httpHelpers, type Method } from './support/http-helpers.js';
import { ADMIN_KEY, freshDatabase, startTestApp, type TestApp, testRuntimeConfig } from './support/test-app.js';

// ---------------------------------------------------------------------------------------------
// The contract's fixed shapes
// ---------------------------------------------------------------------------------------------

const SCOPES: Scope[] = ['read', 'write', 'admin'];

/** `wck_` and 32 random bytes in base64url: 256 bits. */
const KEY_FORMAT = /^wck_[A-Za-z0-9_-]{43}$/;
const CREATED_FIELDS = ['id', 'name', 'prefix', 'scopes', 'expires_at', 'created_at', 'key'].sort();
const FUTURE = '2999-01-01T00:00:00Z';

interface ListedKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  [field: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// Harness helpers
// ---------------------------------------------------------------------------------------------

let t: TestApp;

/** Every API key secret seen in this file; no listing may ever contain one. */
const secrets = new Set<string>([ADMIN_KEY]);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** What a key is listed by: `sha256:` and the first 8 hex digits of its hash. */
const labelOf = (key: string) => `sha256:${sha256(key).slice(0, 8)}`;

/** Every 8-character piece of a secret: none may be stored or shown (8 given hex digits turn up by chance once in 4 billion). */
function fragmentsOf(secret: string): string[] {
  return Array.from({ length: secret.length - 7 }, (_, i) => secret.slice(i, i + 8));
}

function uniqueName(label = 'key'): string {
  return `${label}-${randomUUID()}`;
}

const { call, createUser, createKey: newKey } = httpHelpers(() => t);

async function createKey(scopes: Scope[], extra: Record<string, unknown> = {}): Promise<CreatedKey> {
  const created = await newKey(scopes, extra);
  secrets.add(created.key);
  return created;
}

async function listKeys(): Promise<ListedKey[]> {
  const res = await call('get', '/api/v1/api-keys');
  expect(res.status, res.text).toBe(200);
  expect(Array.isArray(res.body)).toBe(true);
  return res.body as ListedKey[];
}

async function putConnection(userId: string, provider: string): Promise<void> {
  const res = await call('put', `/api/v1/users/${userId}/connections/${provider}`, { body: { access_token: `access-${randomUUID()}` } });
  expect(res.status, res.text).toBe(201);
}

// ---------------------------------------------------------------------------------------------

describe('API keys', () => {
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('POST /api/v1/api-keys', () => {
    it('creates a key: 201 with id, name, prefix, scopes, expires_at, created_at and the key; the prefix is made from its hash', async () => {
      const name = uniqueName();
      const res = await call('post', '/api/v1/api-keys', { body: { name, scopes: ['read', 'write'] } });
      expect(res.status, res.text).toBe(201);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      const body = res.body as CreatedKey;
      secrets.add(body.key);

      expect(Object.keys(body).sort()).toEqual(CREATED_FIELDS);
      expect(body.id).toMatch(UUID);
      expect(body.name).toBe(name);
      expect([...body.scopes].sort()).toEqual(['read', 'write']);
      expect(body.expires_at).toBeNull();
      expect(body.created_at).toMatch(ISO_UTC);
      expect(body.prefix).toBe(labelOf(body.key));
    });

    it('makes keys of wck_ and 43 base64url characters, all different, whose prefix shows none of the key', async () => {
      const keys = await Promise.all(Array.from({ length: 8 }, () => createKey(['read'])));
      for (const created of keys) {
        expect(created.key).toMatch(KEY_FORMAT);
        expect(Buffer.from(created.key.slice(4), 'base64url')).toHaveLength(32);
        // The prefix is a function of the key's hash only: all 256 random bits stay secret.
        expect(created.prefix).toMatch(/^sha256:[0-9a-f]{8}$/);
        expect(created.prefix).toBe(labelOf(created.key));
      }
      expect(new Set(keys.map((k) => k.key)).size).toBe(keys.length);
      expect(new Set(keys.map((k) => k.id)).size).toBe(keys.length);
    });

    it('returns a key that authenticates with exactly the scopes it was given', async () => {
      const created = await createKey(['read']);
      expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);
      expectError(await call('post', '/api/v1/users', { key: created.key, body: { id: randomUUID() } }), 403, 'write');
    });

    it('accepts a future expires_at with a time zone and returns it in UTC', async () => {
      const inUtc = await createKey(['read'], { expires_at: FUTURE });
      expect(inUtc.expires_at).toBe(FUTURE);

      const withOffset = await createKey(['read'], { expires_at: '2999-06-01T12:00:00+02:00' });
      expect(withOffset.expires_at).toMatch(ISO_UTC);
      expect(new Date(withOffset.expires_at!).toISOString()).toBe('2999-06-01T10:00:00.000Z');
      expect((await call('get', '/api/v1/users', { key: withOffset.key })).status).toBe(200);
    });

    const invalidBodies: { name: string; body: (name: string) => Record<string, unknown> }[] = [
      { name: 'missing scopes', body: (name) => ({ name }) },
      { name: 'empty scopes', body: (name) => ({ name, scopes: [] }) },
      { name: 'duplicate scopes', body: (name) => ({ name, scopes: ['read', 'read'] }) },
      { name: 'an unknown scope', body: (name) => ({ name, scopes: ['read', 'superuser'] }) },
      { name: 'scopes that are not an array', body: (name) => ({ name, scopes: 'admin' }) },
      { name: 'a missing name', body: () => ({ scopes: ['read'] }) },
      { name: 'an expires_at in the past', body: (name) => ({ name, scopes: ['read'], expires_at: '2020-01-01T00:00:00Z' }) },
      { name: 'an expires_at without a time zone', body: (name) => ({ name, scopes: ['read'], expires_at: '2999-01-01T00:00:00' }) },
      { name: 'an expires_at that is not a time', body: (name) => ({ name, scopes: ['read'], expires_at: 'tomorrow' }) },
      { name: 'an unknown field', body: (name) => ({ name, scopes: ['read'], key: 'wck_chosen-by-the-caller' }) },
    ];

    for (const { name: what, body } of invalidBodies) {
      it(`returns 400 {"detail"} for ${what}, and creates no key`, async () => {
        const name = uniqueName('invalid');
        const before = (await listKeys()).length;
        const res = await call('post', '/api/v1/api-keys', { body: body(name) });
        expectError(res, 400);
        expect(res.body).not.toHaveProperty('key');
        const after = await listKeys();
        expect(after.map((k) => k.name)).not.toContain(name);
        expect(after).toHaveLength(before);
      });
    }
  });

  describe('GET /api/v1/api-keys', () => {
    it('lists keys with last_used_at, null until a key is used and set after', async () => {
      const created = await createKey(['read']);
      const unused = (await listKeys()).find((k) => k.id === created.id);
      expect(unused).toBeDefined();
      expect(unused).toMatchObject({
        id: created.id,
        name: created.name,
        prefix: created.prefix,
        scopes: created.scopes,
        expires_at: null,
        created_at: created.created_at,
        last_used_at: null,
      });

      expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);
      const used = (await listKeys()).find((k) => k.id === created.id)!;
      expect(used.last_used_at).toMatch(ISO_UTC);
      expect(Date.parse(used.last_used_at!)).toBeGreaterThanOrEqual(Date.parse(created.created_at) - 1000);
    });

    it("never shows a key field, a secret, a key hash or any part of a key, BOOTSTRAP_API_KEY's included, which it lists by a label made from its hash (it used to show the key's first quarter)", async () => {
      const created = await createKey(['write']);
      expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);
      const res = await call('get', '/api/v1/api-keys');
      expect(res.status).toBe(200);
      expect(res.body.length).toBeGreaterThanOrEqual(2);
      for (const listed of res.body as ListedKey[]) {
        expect(listed).not.toHaveProperty('key');
        expect(listed).not.toHaveProperty('key_hash');
        expect(listed).not.toHaveProperty('keyHash');
      }
      expect(secrets.size).toBeGreaterThanOrEqual(2);
      for (const secret of secrets) {
        expect(res.text).not.toContain(secret);
        expect(res.text).not.toContain(sha256(secret));
      }
      // No fragment of any key, generated or the operator's (BOOTSTRAP_API_KEY), may show.
      expect(secrets).toContain(ADMIN_KEY);
      for (const secret of secrets) {
        for (const fragment of fragmentsOf(secret)) expect(res.text, `shows "${fragment}" of a key`).not.toContain(fragment);
      }
      const bootstrap = (res.body as ListedKey[]).find((k) => k.name === 'bootstrap');
      expect(bootstrap).toBeDefined();
      expect(bootstrap!.prefix).toBe(labelOf(ADMIN_KEY));
      expect(res.text).not.toContain(ADMIN_KEY.slice(0, ADMIN_KEY.length >> 2));
    });
  });

  describe('DELETE /api/v1/api-keys/{id}', () => {
    it('revokes a key: 204 with no body, 204 again on a repeat, and the key gets 401 on the very next request, even right after it was used', async () => {
      const created = await createKey(['admin']);
      // Used first, so that any cache of authenticated keys holds it.
      expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);
      expect((await call('get', '/api/v1/api-keys', { key: created.key })).status).toBe(200);

      const res = await call('delete', `/api/v1/api-keys/${created.id}`);
      expect(res.status, res.text).toBe(204);
      expect(res.text ?? '').toBe('');
      const again = await call('delete', `/api/v1/api-keys/${created.id}`);
      expect(again.status, again.text).toBe(204);

      const next = await call('get', '/api/v1/users', { key: created.key });
      expect(next.status).toBe(401);
      expect(next.body).toEqual(INVALID_KEY_BODY);
      const write = await call('post', '/api/v1/users', { key: created.key, body: { id: randomUUID() } });
      expect(write.status).toBe(401);
      expect(write.body).toEqual(INVALID_KEY_BODY);
    });

    it('lets a key revoke itself, after which it no longer works', async () => {
      const created = await createKey(['admin']);
      expect((await call('delete', `/api/v1/api-keys/${created.id}`, { key: created.key })).status).toBe(204);
      const next = await call('get', '/api/v1/api-keys', { key: created.key });
      expect(next.status).toBe(401);
      expect(next.body).toEqual(INVALID_KEY_BODY);
    });

    it('revokes only the given key', async () => {
      const revoked = await createKey(['read']);
      const kept = await createKey(['read']);
      expect((await call('get', '/api/v1/users', { key: kept.key })).status).toBe(200);
      expect((await call('delete', `/api/v1/api-keys/${revoked.id}`)).status).toBe(204);
      expect((await call('get', '/api/v1/users', { key: kept.key })).status).toBe(200);
      expect((await call('get', '/api/v1/users')).status).toBe(200);
    });

    it('returns 404 {"detail"} for an unknown id', async () => {
      expectError(await call('delete', `/api/v1/api-keys/${randomUUID()}`), 404);
    });

    it('returns 400 {"detail"} for an id that is not a UUID', async () => {
      expectError(await call('delete', '/api/v1/api-keys/not-a-uuid'), 400);
      expectError(await call('delete', `/api/v1/api-keys/${randomUUID()}x`), 400);
    });
  });

  describe('expiry', () => {
    it('rejects a key with 401 and the exact body once its expires_at has passed, even right after it was used', async () => {
      const expiresAt = new Date(Date.now() + 2_500);
      const created = await createKey(['read'], { expires_at: expiresAt.toISOString() });
      const before = await call('get', '/api/v1/users', { key: created.key });
      expect(before.status, 'the key works until it expires').toBe(200);

      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 300);

      const after = await call('get', '/api/v1/users', { key: created.key });
      expect(after.status).toBe(401);
      expect(after.body).toEqual(INVALID_KEY_BODY);
    });

    it('rejects a key stored with an expires_at in the past with 401 and the exact body', async () => {
      const key = `wck_${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '').slice(0, 11)}`;
      await t.query(
        `INSERT INTO api_keys (name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)`,
        [uniqueName('expired'), labelOf(key), sha256(key), ['admin'], '2020-01-01T00:00:00Z'],
      );
      for (const [method, path] of [
        ['get', '/api/v1/users'],
        ['get', '/api/v1/api-keys'],
      ] as const) {
        const res = await call(method, path, { key });
        expect(res.status).toBe(401);
        expect(res.body).toEqual(INVALID_KEY_BODY);
      }
    });
  });

  describe('storage', () => {
    it("stores only the SHA-256 hex hash of a key, BOOTSTRAP_API_KEY's too: no part of any secret is in any column", async () => {
      const created = await createKey(['write'], { expires_at: FUTURE });
      expect((await call('get', '/api/v1/users', { key: created.key })).status).toBe(200);

      const rows = await t.query<Record<string, unknown>>('SELECT * FROM api_keys');
      const row = rows.find((r) => r.id === created.id);
      expect(row, 'the key has a row').toBeDefined();
      expect(row!.key_hash).toBe(sha256(created.key));

      for (const stored of rows) {
        expect(stored.prefix, 'the prefix column is made from the hash').toBe(`sha256:${String(stored.key_hash).slice(0, 8)}`);
        for (const [column, value] of Object.entries(stored)) {
          const text = value instanceof Date ? value.toISOString() : JSON.stringify(value);
          for (const secret of secrets) {
            for (const fragment of fragmentsOf(secret)) expect(text, `api_keys.${column} holds part of a key`).not.toContain(fragment);
          }
        }
      }
      const bootstrap = await t.query<{ key_hash: string; prefix: string }>('SELECT key_hash, prefix FROM api_keys WHERE key_hash = $1', [
        sha256(ADMIN_KEY),
      ]);
      expect(bootstrap).toEqual([{ key_hash: sha256(ADMIN_KEY), prefix: labelOf(ADMIN_KEY) }]);
      // Each row's text form, too (covers any column the driver would hand back in another shape).
      expect(secrets).toContain(ADMIN_KEY);
      const texts = await t.query<{ row: string }>('SELECT t::text AS row FROM api_keys t');
      expect(texts.length).toBe(rows.length);
      for (const { row: text } of texts) {
        expect(text).not.toContain(ADMIN_KEY.slice(0, ADMIN_KEY.length >> 2));
        for (const secret of secrets) for (const fragment of fragmentsOf(secret)) expect(text).not.toContain(fragment);
      }
    });

    it("rewrites the prefixes stored by earlier versions (the keys' first characters) from their hashes (migration KeyLabelsFromHash)", async () => {
      const generated = `wck_${randomBytes(32).toString('base64url')}`;
      const chosen = `operator-chosen-${randomUUID()}`;
      secrets.add(generated).add(chosen);
      for (const [key, prefix] of [
        [generated, generated.slice(0, 12)],
        [chosen, chosen.slice(0, chosen.length >> 2)],
      ]) {
        await t.query(`INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)`, [uniqueName('old'), prefix, sha256(key), ['read']]);
      }
      const runner = t.app.get(DataSource).createQueryRunner();
      try {
        await new KeyLabelsFromHash1795510000000().up(runner);
      } finally {
        await runner.release();
      }
      const rows = await t.query<{ key_hash: string; prefix: string }>('SELECT key_hash, prefix FROM api_keys WHERE key_hash = ANY($1)', [
        [sha256(generated), sha256(chosen)],
      ]);
      expect(rows.map((r) => r.prefix).sort()).toEqual([labelOf(generated), labelOf(chosen)].sort());
      const listed = await call('get', '/api/v1/api-keys');
      for (const fragment of [...fragmentsOf(generated), ...fragmentsOf(chosen)]) expect(listed.text).not.toContain(fragment);
    });
  });

  describe('scopes', () => {
    interface Route {
      method: Method;
      path: string;
      needs: Scope;
      /** The status when allowed. */
      ok: number;
      /** Builds the request's path and body on fresh data. */
      prepare: () => Promise<{ path: string; body?: unknown; key?: CreatedKey; userId?: string; id?: string }>;
      /** Checks after a 403 that nothing changed. */
      unchanged?: (prepared: { path: string; body?: unknown; key?: CreatedKey; userId?: string; id?: string }) => Promise<void>;
    }

    const routes: Route[] = [
      {
        method: 'get',
        path: '/api/v1/users',
        needs: 'read',
        ok: 200,
        prepare: async () => ({ path: '/api/v1/users' }),
      },
      {
        method: 'post',
        path: '/api/v1/users',
        needs: 'write',
        ok: 201,
        prepare: async () => {
          const id = randomUUID();
          return { path: '/api/v1/users', body: { id }, id };
        },
        unchanged: async ({ id }) => {
          expect((await call('get', `/api/v1/users/${id}`)).status).toBe(404);
        },
      },
      {
        method: 'get',
        path: '/api/v1/users/{id}',
        needs: 'read',
        ok: 200,
        prepare: async () => {
          const { id: userId } = await createUser();
          return { path: `/api/v1/users/${userId}`, userId };
        },
      },
      {
        method: 'delete',
        path: '/api/v1/users/{id}',
        needs: 'write',
        ok: 204,
        prepare: async () => {
          const { id: userId } = await createUser();
          return { path: `/api/v1/users/${userId}`, userId };
        },
        unchanged: async ({ userId }) => {
          expect((await call('get', `/api/v1/users/${userId}`)).status).toBe(200);
        },
      },
      {
        method: 'get',
        path: '/api/v1/users/{id}/connections',
        needs: 'read',
        ok: 200,
        prepare: async () => {
          const { id: userId } = await createUser();
          await putConnection(userId, 'garmin');
          return { path: `/api/v1/users/${userId}/connections`, userId };
        },
      },
      {
        method: 'put',
        path: '/api/v1/users/{id}/connections/{provider}',
        needs: 'write',
        ok: 201,
        prepare: async () => {
          const { id: userId } = await createUser();
          return {
            path: `/api/v1/users/${userId}/connections/strava`,
            body: { access_token: `access-${randomUUID()}` },
            userId,
          };
        },
        unchanged: async ({ userId }) => {
          const res = await call('get', `/api/v1/users/${userId}/connections`);
          expect(res.status).toBe(200);
          expect(res.body).toEqual([]);
        },
      },
      {
        method: 'delete',
        path: '/api/v1/users/{id}/connections/{provider}',
        needs: 'write',
        ok: 204,
        prepare: async () => {
          const { id: userId } = await createUser();
          await putConnection(userId, 'polar');
          return { path: `/api/v1/users/${userId}/connections/polar`, userId };
        },
        unchanged: async ({ userId }) => {
          const res = await call('get', `/api/v1/users/${userId}/connections`);
          expect(res.status).toBe(200);
          expect(res.body.map((c: { status: string }) => c.status)).toEqual(['active']);
        },
      },
      {
        method: 'get',
        path: '/api/v1/api-keys',
        needs: 'admin',
        ok: 200,
        prepare: async () => ({ path: '/api/v1/api-keys' }),
      },
      {
        method: 'post',
        path: '/api/v1/api-keys',
        needs: 'admin',
        ok: 201,
        prepare: async () => {
          const name = uniqueName('made-by-scope-test');
          return { path: '/api/v1/api-keys', body: { name, scopes: ['read'] }, id: name };
        },
        unchanged: async ({ id: name }) => {
          expect((await listKeys()).map((k) => k.name)).not.toContain(name);
        },
      },
      {
        method: 'delete',
        path: '/api/v1/api-keys/{id}',
        needs: 'admin',
        ok: 204,
        prepare: async () => {
          const target = await createKey(['read']);
          return { path: `/api/v1/api-keys/${target.id}`, key: target };
        },
        unchanged: async ({ key }) => {
          expect((await call('get', '/api/v1/users', { key: key!.key })).status).toBe(200);
        },
      },
    ];

    const GRANTED: Record<Scope, Scope[]> = { read: ['read'], write: ['read', 'write'], admin: ['read', 'write', 'admin'] };
    const cases = SCOPES.flatMap((scope) =>
      routes.map((route) => ({ ...route, scope, allowed: GRANTED[scope].includes(route.needs) })),
    );
    const scopeKeys = new Map<Scope, CreatedKey>();

    beforeAll(async () => {
      for (const scope of SCOPES) scopeKeys.set(scope, await createKey([scope]));
    });

    for (const route of cases.filter((c) => c.allowed)) {
      it(`lets a ${route.scope} key call ${route.method.toUpperCase()} ${route.path}`, async () => {
        const prepared = await route.prepare();
        const res = await call(route.method, prepared.path, { key: scopeKeys.get(route.scope)!.key, body: prepared.body });
        expect(res.status, res.text).toBe(route.ok);
        if (res.body && typeof res.body === 'object' && 'key' in res.body) secrets.add(res.body.key);
      });
    }

    for (const route of cases.filter((c) => !c.allowed)) {
      it(`refuses a ${route.scope} key on ${route.method.toUpperCase()} ${route.path} with 403 naming the "${route.needs}" scope, and changes nothing`, async () => {
        const prepared = await route.prepare();
        const res = await call(route.method, prepared.path, { key: scopeKeys.get(route.scope)!.key, body: prepared.body });
        expectError(res, 403, route.needs);
        expect(res.body.detail).not.toBe(INVALID_KEY_BODY.detail);
        await route.unchanged?.(prepared);
      });
    }

    it('grants a key with several scopes the union of them', async () => {
      const created = await createKey(['read', 'admin']);
      expect((await call('get', '/api/v1/api-keys', { key: created.key })).status).toBe(200);
      const res = await call('post', '/api/v1/users', { key: created.key, body: { id: randomUUID() } });
      expect(res.status, res.text).toBe(201);
    });

    it('checks the key before the scope: a wrong or missing key gets 401, not 403', async () => {
      for (const key of [null, `wck_${randomUUID()}`]) {
        const res = await call('get', '/api/v1/api-keys', { key });
        expect(res.status).toBe(401);
        expect(res.body).toEqual(INVALID_KEY_BODY);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The last active admin key
// ---------------------------------------------------------------------------------------------

describe('the last active admin key', () => {
  /** An app of its own, whose admin keys these tests count. */
  let own: TestApp;
  /** The admin key the tests of this block act with: the bootstrap key at first. */
  let admin: { id: string; key: string };

  const { call: send, createKey: newOwnKey } = httpHelpers(() => own);

  async function newKey(scopes: Scope[]): Promise<CreatedKey> {
    const created = await newOwnKey(scopes, {}, admin.key);
    secrets.add(created.key);
    return created;
  }

  async function activeAdminIds(): Promise<string[]> {
    const rows = await own.query<{ id: string }>(
      `SELECT id FROM api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY id`,
    );
    return rows.map((row) => row.id);
  }

  beforeAll(async () => {
    own = await startTestApp();
    const listed = await send('get', '/api/v1/api-keys');
    admin = { id: (listed.body as ListedKey[]).find((k) => k.name === 'bootstrap')!.id, key: ADMIN_KEY };
  });
  afterAll(async () => {
    await own?.close();
  });

  it('cannot be revoked: 409 {"detail"}, and it keeps working; keys that are not active admin keys do not count', async () => {
    // Neither a read and write key, nor a revoked admin key, nor an expired one, is an active admin key.
    await newKey(['read', 'write']);
    const revoked = await newKey(['admin']);
    expect((await send('delete', `/api/v1/api-keys/${revoked.id}`, { key: admin.key })).status).toBe(204);
    const expiredKey = `wck_${randomBytes(32).toString('base64url')}`;
    secrets.add(expiredKey);
    await own.query(`INSERT INTO api_keys (name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)`, [
      uniqueName('expired-admin'),
      labelOf(expiredKey),
      sha256(expiredKey),
      ['admin'],
      '2020-01-01T00:00:00Z',
    ]);
    expect(await activeAdminIds()).toEqual([admin.id]);

    const res = await send('delete', `/api/v1/api-keys/${admin.id}`, { key: admin.key });
    expectError(res, 409, 'last active admin key');
    for (const secret of secrets) expect(res.text).not.toContain(secret);
    expect(await activeAdminIds()).toEqual([admin.id]);
    expect((await send('get', '/api/v1/api-keys', { key: admin.key })).status).toBe(200);
    expect((await send('post', '/api/v1/users', { key: admin.key, body: { id: randomUUID() } })).status).toBe(201);
    // Repeating it changes nothing either.
    expectError(await send('delete', `/api/v1/api-keys/${admin.id}`, { key: admin.key }), 409);
    expect((await send('get', '/api/v1/api-keys', { key: admin.key })).status).toBe(200);
  });

  it('can be revoked once another active admin key exists, which is then the last one', async () => {
    const other = await newKey(['admin']);
    expect((await send('delete', `/api/v1/api-keys/${admin.id}`, { key: other.key })).status).toBe(204);
    expect((await send('get', '/api/v1/users', { key: admin.key })).status).toBe(401);
    admin = { id: other.id, key: other.key };
    expect(await activeAdminIds()).toEqual([admin.id]);
    expectError(await send('delete', `/api/v1/api-keys/${admin.id}`, { key: admin.key }), 409);
    expect((await send('get', '/api/v1/api-keys', { key: admin.key })).status).toBe(200);
  });

  it('of two concurrent revocations of the last two admin keys, exactly one succeeds', async () => {
    for (let round = 0; round < 5; round++) {
      const second = await newKey(['admin']);
      expect(await activeAdminIds()).toHaveLength(2);
      // Each key revokes itself, so that neither request can find its own key already revoked.
      const responses = await Promise.all([
        send('delete', `/api/v1/api-keys/${admin.id}`, { key: admin.key }),
        send('delete', `/api/v1/api-keys/${second.id}`, { key: second.key }),
      ]);
      expect(responses.map((res) => res.status).sort(), `round ${round}`).toEqual([204, 409]);
      const left = await activeAdminIds();
      expect(left, `round ${round}`).toHaveLength(1);
      admin = left[0] === admin.id ? admin : { id: second.id, key: second.key };
      expect((await send('get', '/api/v1/api-keys', { key: admin.key })).status).toBe(200);
    }
  });

  it('a start with keys but no active admin key warns how to get one back; following it works', async () => {
    const database = await freshDatabase();
    // The warning as BootstrapApiKey hands it to the logger (nestjs-pino writes every application of a
    // process to the stream of the first one, so a stream of this test's own would stay empty).
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const warnings = () => warn.mock.calls.map((args) => String(args[0])).filter((message) => message.includes('No active admin API key'));
    const startOn = (bootstrapApiKey: string | undefined) => createApp({ ...testRuntimeConfig(database.url), bootstrapApiKey });
    try {
      const first = await startOn(ADMIN_KEY);
      expect(warnings()).toEqual([]);
      // As an earlier version allowed (or a hand in the database): the only admin key revoked.
      await first.get(DataSource).query(`UPDATE api_keys SET revoked_at = now()`);
      await first.close();

      for (const bootstrap of [undefined, ADMIN_KEY]) {
        warn.mockClear();
        await (await startOn(bootstrap)).close();
        expect(warnings(), `BOOTSTRAP_API_KEY ${bootstrap ? 'the revoked key' : 'unset'}`).toHaveLength(1);
        expect(warnings()[0]).toContain('restart with BOOTSTRAP_API_KEY=');
        if (bootstrap) expect(warnings()[0]).toContain('stays revoked');
        for (const fragment of fragmentsOf(ADMIN_KEY)) expect(warnings()[0]).not.toContain(fragment);
      }

      // Following the hint: a new BOOTSTRAP_API_KEY is an admin key, and nothing is left to warn about.
      const recovered = `recovered-${randomUUID()}`;
      warn.mockClear();
      const app = await startOn(recovered);
      try {
        await app.getHttpAdapter().getInstance().ready();
        expect((await request(app.getHttpServer()).get('/api/v1/api-keys').set('X-API-Key', recovered)).status).toBe(200);
        expect(warnings()).toEqual([]);
      } finally {
        await app.close();
      }
    } finally {
      warn.mockRestore();
      await database.drop();
    }
  });
});
