import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, startTestApp, type TestApp } from './support/test-app.js';
import { FaultyProxy } from './support/tcp-proxy.js';

const onPostgres = Boolean(process.env.DATABASE_URL);

/** Polls GET /health/ready until it answers `status` (giving up after 20 s, with the last answer). */
async function readyUntil(t: TestApp, status: number): Promise<request.Response> {
  const giveUp = Date.now() + 20_000;
  for (;;) {
    const res = await request(t.server).get('/health/ready');
    if (res.status === status || Date.now() > giveUp) return res;
    await new Promise((done) => setTimeout(done, 100));
  }
}

describe('health', () => {
  let t: TestApp;
  let proxy: FaultyProxy | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (!onPostgres) {
      t = await startTestApp();
      return;
    }
    // Our own fresh database, reached through the proxy, so that the test can take it away.
    const base = process.env.DATABASE_URL!;
    const database = await freshPostgresDatabase(base);
    dropDatabase = database.drop;
    const upstream = new URL(base);
    proxy = new FaultyProxy({ host: upstream.hostname || '127.0.0.1', port: Number(upstream.port || 5432) });
    const proxied = new URL(database.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(await proxy.listen());
    t = await startTestApp({ databaseUrl: proxied.toString() });
  });
  afterAll(async () => {
    await proxy?.restore();
    await t?.close();
    await proxy?.close();
    await dropDatabase?.();
  });

  it('GET /health/live answers 200 {"status":"ok"} without an API key', async () => {
    const res = await request(t.server).get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /health/ready answers 200 without an API key while the database answers', async () => {
    const res = await request(t.server).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', info: { database: expect.objectContaining({ status: 'up' }) } });
  });

  it.skipIf(!onPostgres)(
    'GET /health/ready answers 503 {"detail"} while the database is unreachable, and 200 again once it is back, without a restart (PostgreSQL only: the outage is made on its TCP connection; the embedded database has none)',
    async () => {
      await proxy!.cut('refuse');
      const down = await readyUntil(t, 503);
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ detail: expect.stringMatching(/database/) });
      // Liveness does not depend on the database.
      const live = await request(t.server).get('/health/live');
      expect(live.status).toBe(200);

      await proxy!.restore();
      const up = await readyUntil(t, 200);
      expect(up.status).toBe(200);
      expect(up.body).toEqual({ status: 'ok', info: { database: expect.objectContaining({ status: 'up' }) } });
    },
  );
});
