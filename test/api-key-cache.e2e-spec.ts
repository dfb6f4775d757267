/**
 * The API-key cache under concurrency: requests that miss it together share one database lookup, and
 * a revocation is not undone by a lookup that was already under way when it happened.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Sql } from '../src/database/sql.js';
import { httpHelpers } from './support/http-helpers.js';
import { startTestApp, type TestApp } from './support/test-app.js';

const LOOKUP = /^\s*UPDATE api_keys SET last_used_at/;

let t: TestApp;
let sql: Sql;
let original: Sql['rows'];
/** Key lookups the application ran, and a gate each waits on once the database has answered it. */
let lookups = 0;
let gate: Promise<void> | undefined;

beforeAll(async () => {
  t = await startTestApp();
  sql = t.app.get(Sql);
  original = sql.rows.bind(sql);
  sql.rows = (async (text: string, values?: unknown[], name?: string) => {
    if (!LOOKUP.test(text)) return original(text, values, name);
    lookups += 1;
    const rows = await original(text, values, name);
    await gate;
    return rows;
  }) as Sql['rows'];
});
afterEach(() => {
  lookups = 0;
  gate = undefined;
});
afterAll(async () => {
  if (sql) sql.rows = original;
  await t?.close();
});

const { call, createKey } = httpHelpers(() => t);

const list = (key: string) => call('get', '/api/v1/users', { key });

describe('API-key cache', () => {
  it('looks a key up once for all the requests that arrive while it is not cached', async () => {
    const { key } = await createKey(['read']);
    lookups = 0;
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const pending = Array.from({ length: 20 }, () => list(key).then((res) => res.status));
    // Every request has reached the guard before the one lookup is let through.
    await new Promise((resolve) => setTimeout(resolve, 200));
    open();
    expect(await Promise.all(pending)).toEqual(Array(20).fill(200));
    expect(lookups).toBe(1);
    // Cached now: no further lookup.
    expect((await list(key)).status).toBe(200);
    expect(lookups).toBe(1);
  });

  it('does not cache what a lookup under way read once the key is revoked meanwhile', async () => {
    const { id, key } = await createKey(['read']);
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    // The lookup has read the key, still valid, and waits when the key is revoked.
    const early = list(key).then((res) => res.status);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lookups).toBe(1);
    const revoked = call('delete', `/api/v1/api-keys/${id}`);
    // The admin key is cached from the request before, so the revocation does not wait on the gate.
    expect((await revoked).status).toBe(204);
    open();
    // The request that was already under way may still get through; the next one may not.
    expect([200, 401]).toContain(await early);
    gate = undefined;
    expect((await list(key)).status).toBe(401);
    expect((await list(key)).status).toBe(401);
  });
});
