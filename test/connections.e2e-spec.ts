import pg from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

describe('probe', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t?.close(); });
  it('probe', async () => {
    await request(t.server).get('/api/v1/users').set('X-API-Key', ADMIN_KEY);
    console.log('ds', await t.app.get(DataSource).query('SELECT count(*)::int AS n FROM users WHERE id <> $1', ['00000000-0000-0000-0000-000000000000']));
    const c = new pg.Client({ connectionString: t.databaseUrl, connectionTimeoutMillis: 3000 });
    try { await c.connect(); console.log('pg', (await c.query('select 1 as x')).rows); await c.end(); } catch (e) { console.log('pg failed', String(e)); }
  });
});
