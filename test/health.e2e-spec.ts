import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/test-app.js';

const onPostgres = Boolean(process.env.DATABASE_URL);

/** A TCP proxy to PostgreSQL that can cut the database off (as a network failure would) and restore it. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private readonly server: Server;

  constructor(private readonly upstream: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const server = connect(upstream.port, upstream.host);
      for (const [socket, other] of [
        [client, server],
        [server, client],
      ] as const) {
        this.sockets.add(socket);
        socket.on('error', () => other.destroy());
        socket.on('close', () => {
          this.sockets.delete(socket);
          other.destroy();
        });
        socket.pipe(other);
      }
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return (this.server.address() as AddressInfo).port;
  }

  /** Every open connection is dropped and every new one is closed at once. */
  cutOff(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.cutOff();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

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
  let proxy: CuttableProxy | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (!onPostgres) {
      t = await startTestApp();
      return;
    }
    // Our own fresh database, reached through the proxy, so that the test can take it away.
    const base = process.env.DATABASE_URL!;
    const name = `wc_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(base, `CREATE DATABASE ${name}`);
    dropDatabase = () => adminQuery(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const upstream = new URL(base);
    proxy = new CuttableProxy({ host: upstream.hostname || '127.0.0.1', port: Number(upstream.port || 5432) });
    const proxied = new URL(base);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(await proxy.listen());
    proxied.pathname = `/${name}`;
    t = await startTestApp({ databaseUrl: proxied.toString() });
  });
  afterAll(async () => {
    proxy?.restore();
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

  it('the API itself still needs a key (health is the exception)', async () => {
    const res = await request(t.server).get('/api/v1/users');
    expect(res.status).toBe(401);
  });

  it.skipIf(!onPostgres)(
    'GET /health/ready answers 503 {"detail"} while the database is unreachable, and 200 again once it is back, without a restart (PostgreSQL only)',
    async () => {
      proxy!.cutOff();
      const down = await readyUntil(t, 503);
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ detail: expect.stringMatching(/database/) });
      // Liveness does not depend on the database.
      const live = await request(t.server).get('/health/live');
      expect(live.status).toBe(200);

      proxy!.restore();
      const up = await readyUntil(t, 200);
      expect(up.status).toBe(200);
      expect(up.body).toEqual({ status: 'ok', info: { database: expect.objectContaining({ status: 'up' }) } });
    },
  );
});
