import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/test-app.js';
import { SPEC_EXAMPLE, SPEC_USER_ID } from './support/spec-example.js';
import { CONNECTION_KEYS, INVALID_KEY_BODY, ISO_UTC, USER_KEYS, USER_NOT_FOUND_BODY, type UserBody, UUID } from './support/contract.js';
import { expectError, httpHelpers } from './support/http-helpers.js';

// ---------------------------------------------------------------------------------------------
// Harness helpers
// ---------------------------------------------------------------------------------------------

let t: TestApp;

const { token, call, createUser, putConnection } = httpHelpers(() => t);

function expectUserShape(user: UserBody): void {
  expect(Object.keys(user).sort()).toEqual(USER_KEYS);
  expect(user.id).toMatch(UUID);
  expect(user.created_at).toMatch(ISO_UTC);
  expect(user.updated_at).toMatch(ISO_UTC);
}

async function connectionCount(userId: string): Promise<number> {
  const [row] = await t.query<{ count: number }>('SELECT count(*)::int AS count FROM connections WHERE user_id = $1', [
    userId,
  ]);
  return row.count;
}

interface Page {
  data: UserBody[];
  next_cursor: string | null;
}

/** Pages through GET /api/v1/users with the given limit, returning every page. */
async function allPages(limit: number): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const res = await call('get', `/api/v1/users${query}`);
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['data', 'next_cursor']);
    const page = res.body as Page;
    expect(page.next_cursor === null || typeof page.next_cursor === 'string').toBe(true);
    pages.push(page);
    cursor = page.next_cursor;
    expect(pages.length, 'paging does not end').toBeLessThan(1_000);
  } while (cursor !== null);
  return pages;
}

// ---------------------------------------------------------------------------------------------

describe('users API', () => {
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('authentication', () => {
    it('returns 401 with the exact body on every users route for a missing or wrong API key, and changes nothing', async () => {
      const existing = await createUser();
      const newId = randomUUID();

      for (const key of [null, `wrong-key-${randomUUID()}`]) {
        const responses = [
          await call('post', '/api/v1/users', { key, body: { id: newId } }),
          await call('get', '/api/v1/users', { key }),
          await call('get', `/api/v1/users/${existing.id}`, { key }),
          await call('delete', `/api/v1/users/${existing.id}`, { key }),
        ];
        for (const res of responses) {
          expect(res.status, `key ${key}`).toBe(401);
          expect(res.body).toEqual(INVALID_KEY_BODY);
        }
      }
      expect((await call('get', `/api/v1/users/${newId}`)).status).toBe(404);
      expect((await call('get', `/api/v1/users/${existing.id}`)).status).toBe(200);
    });
  });

  describe('POST /api/v1/users', () => {
    it('creates a user with a generated id: 201 with id, external_user_id, email, created_at, updated_at', async () => {
      const res = await call('post', '/api/v1/users', { body: {} });
      expect(res.status, res.text).toBe(201);
      expectUserShape(res.body);
      expect(res.body).toMatchObject({ external_user_id: null, email: null });
    });

    it('keeps a client-supplied id and the given fields', async () => {
      const id = randomUUID();
      const externalUserId = `ext-${randomUUID()}`;
      const email = `runner-${randomUUID().slice(0, 8)}@example.com`;
      const res = await call('post', '/api/v1/users', { body: { id, external_user_id: externalUserId, email } });
      expect(res.status, res.text).toBe(201);
      expectUserShape(res.body);
      expect(res.body).toMatchObject({ id, external_user_id: externalUserId, email });
    });

    it('returns 409 for a duplicate id and keeps the first user unchanged', async () => {
      const first = await createUser({ email: 'first@example.com' });
      const res = await call('post', '/api/v1/users', { body: { id: first.id, email: 'second@example.com' } });
      expectError(res, 409);
      const get = await call('get', `/api/v1/users/${first.id}`);
      expect(get.body).toEqual(first);
    });

    it('returns 409 for a duplicate external_user_id and creates nothing', async () => {
      const externalUserId = `ext-${randomUUID()}`;
      await createUser({ external_user_id: externalUserId });
      const secondId = randomUUID();
      const res = await call('post', '/api/v1/users', { body: { id: secondId, external_user_id: externalUserId } });
      expectError(res, 409);
      expect((await call('get', `/api/v1/users/${secondId}`)).status).toBe(404);
    });

    it.each([
      { name: 'an id that is not a UUID', body: { id: 'not-a-uuid' } },
      { name: 'a numeric id', body: { id: 12345 } },
      { name: 'an invalid email', body: { email: 'not-an-email' } },
      { name: 'an unknown body field', body: { name: 'Jo Runner' } },
    ])('returns 400 with {"detail"} for $name, and creates nothing', async ({ body }) => {
      const before = await t.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
      const marker = `ext-${randomUUID()}`;
      const res = await call('post', '/api/v1/users', { body: { external_user_id: marker, ...body } });
      expectError(res, 400);
      const after = await t.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
      expect(after[0].count).toBe(before[0].count);
      expect(await t.query('SELECT id FROM users WHERE external_user_id = $1', [marker])).toEqual([]);
    });

    it('returns 400 with {"detail"} (not 500) for a malformed JSON body, and creates nothing', async () => {
      const id = randomUUID();
      const res = await call('post', '/api/v1/users', { rawBody: `{"id": "${id}", ` });
      expectError(res, 400);
      expect((await call('get', `/api/v1/users/${id}`)).status).toBe(404);
    });
  });

  describe('GET /api/v1/users/{id}', () => {
    it('returns 200 with the user as created', async () => {
      const created = await createUser({ external_user_id: `ext-${randomUUID()}`, email: 'get@example.com' });
      const res = await call('get', `/api/v1/users/${created.id}`);
      expect(res.status).toBe(200);
      expectUserShape(res.body);
      expect(res.body).toEqual(created);
    });

    it('returns 404 User not found for an unknown user', async () => {
      const res = await call('get', `/api/v1/users/${randomUUID()}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(USER_NOT_FOUND_BODY);
    });

    it.each(['not-a-uuid', '12345'])('returns 400 with {"detail"} for the non-UUID id %s', async (badId) => {
      const res = await call('get', `/api/v1/users/${badId}`);
      expectError(res, 400);
    });
  });

  describe('GET /api/v1/users', () => {
    it('pages through with limit=2, visiting every user exactly once in a stable order', async () => {
      const created = [];
      for (let i = 0; i < 5; i++) created.push((await createUser()).id);

      const pages = await allPages(2);
      for (const page of pages) {
        expect(page.data.length).toBeLessThanOrEqual(2);
        page.data.forEach(expectUserShape);
      }
      for (const page of pages.slice(0, -1)) expect(page.data.length).toBeGreaterThan(0);
      const seen = pages.flatMap((page) => page.data.map((user) => user.id));

      expect(new Set(seen).size, 'a user was visited twice').toBe(seen.length);
      for (const id of created) expect(seen).toContain(id);
      const inDatabase = (await t.query<{ id: string }>('SELECT id::text AS id FROM users')).map((row) => row.id);
      expect([...seen].sort()).toEqual(inDatabase.sort());
      expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(inDatabase.length / 2));

      const again = (await allPages(2)).flatMap((page) => page.data.map((user) => user.id));
      expect(again).toEqual(seen);
    });

    it('returns every user in one page when the limit allows, with next_cursor null', async () => {
      const created = await createUser();
      const res = await call('get', '/api/v1/users?limit=200');
      expect(res.status).toBe(200);
      expect(res.body.next_cursor).toBeNull();
      const ids = (res.body.data as UserBody[]).map((user) => user.id);
      expect(ids).toContain(created.id);
      const [{ count }] = await t.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
      expect(ids).toHaveLength(count);
    });

    it('returns one user and a next_cursor with limit=1', async () => {
      await createUser();
      await createUser();
      const res = await call('get', '/api/v1/users?limit=1');
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(1);
      expect(typeof res.body.next_cursor).toBe('string');
    });

    it.each(['0', '201', 'abc', '-1'])('returns 400 naming limit for limit=%s', async (limit) => {
      const res = await call('get', `/api/v1/users?limit=${limit}`);
      expectError(res, 400, 'limit');
    });

    it.each(['garbage', '!!!', Buffer.from('not-a-user-id').toString('base64url')])(
      'returns 400 naming cursor for the cursor %s',
      async (cursor) => {
        const res = await call('get', `/api/v1/users?limit=2&cursor=${encodeURIComponent(cursor)}`);
        expectError(res, 400, 'cursor');
      },
    );
  });

  describe('DELETE /api/v1/users/{id}', () => {
    it('deletes the user and every connection of theirs: 204, then 404 on the user and on its connections', async () => {
      const user = await createUser();
      expect((await putConnection(user.id, 'garmin', { access_token: token('access'), refresh_token: token('refresh') })).status).toBe(201);
      expect((await putConnection(user.id, 'strava', { access_token: token('access') })).status).toBe(201);
      expect(await connectionCount(user.id)).toBe(2);

      const res = await call('delete', `/api/v1/users/${user.id}`);
      expect(res.status).toBe(204);
      expect(res.text ?? '').toBe('');

      const get = await call('get', `/api/v1/users/${user.id}`);
      expect(get.status).toBe(404);
      expect(get.body).toEqual(USER_NOT_FOUND_BODY);
      const connections = await call('get', `/api/v1/users/${user.id}/connections`);
      expect(connections.status).toBe(404);
      expect(connections.body).toEqual(USER_NOT_FOUND_BODY);
      expect(await connectionCount(user.id)).toBe(0);
    });

    it('deletes only the given user', async () => {
      const doomed = await createUser();
      const kept = await createUser();
      expect((await putConnection(kept.id, 'polar', { access_token: token('access') })).status).toBe(201);
      expect((await call('delete', `/api/v1/users/${doomed.id}`)).status).toBe(204);
      expect((await call('get', `/api/v1/users/${kept.id}`)).body).toEqual(kept);
      expect(await connectionCount(kept.id)).toBe(1);
    });

    it('returns 404 User not found for an unknown user, and for one already deleted', async () => {
      const res = await call('delete', `/api/v1/users/${randomUUID()}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(USER_NOT_FOUND_BODY);

      const user = await createUser();
      expect((await call('delete', `/api/v1/users/${user.id}`)).status).toBe(204);
      const again = await call('delete', `/api/v1/users/${user.id}`);
      expect(again.status).toBe(404);
      expect(again.body).toEqual(USER_NOT_FOUND_BODY);
    });
  });

  describe("the spec's example built through the API on an empty database", () => {
    it('lists the connections exactly as the spec’s example, except ids and created/updated times', async () => {
      expect((await createUser({ id: SPEC_USER_ID })).id).toBe(SPEC_USER_ID);

      // Sent in an order other than the expected one, so the ordering is the service's doing.
      for (const example of [SPEC_EXAMPLE[2], SPEC_EXAMPLE[0], SPEC_EXAMPLE[1]]) {
        const body: Record<string, unknown> = {
          access_token: token('access'),
          refresh_token: token('refresh'),
          provider_user_id: example.provider_user_id,
          scope: example.scope,
          status: example.status,
          last_synced_at: example.last_synced_at,
        };
        if (example.provider_username !== null) body.provider_username = example.provider_username;
        const put = await putConnection(SPEC_USER_ID, example.provider, body);
        expect(put.status, put.text).toBe(201);
      }

      const res = await call('get', `/api/v1/users/${SPEC_USER_ID}/connections`);
      expect(res.status).toBe(200);
      const rows = res.body as Record<string, unknown>[];
      expect(rows).toHaveLength(SPEC_EXAMPLE.length);
      const strip = ({ id: _id, created_at: _c, updated_at: _u, ...rest }: Record<string, unknown>) => rest;
      expect(rows.map(strip)).toEqual(SPEC_EXAMPLE.map(strip));
      for (const row of rows) {
        expect(Object.keys(row).sort()).toEqual(CONNECTION_KEYS);
        expect(row.id).toMatch(UUID);
        expect(row.created_at).toMatch(ISO_UTC);
        expect(row.updated_at).toMatch(ISO_UTC);
      }
      expect(new Set(rows.map((row) => row.id)).size).toBe(3);
    });
  });
});
