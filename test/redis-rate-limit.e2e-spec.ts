import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/spawn-service.js';
import { httpHelpers } from './support/http-helpers.js';
import { startTestApp, type TestApp } from './support/test-app.js';
import { redisAvailable } from './support/redis.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';


const REDIS_SERVER = execFileSync('sh', ['-c', 'command -v redis-server || true'], { encoding: 'utf8' }).trim();
const NO_REDIS_SERVER = REDIS_SERVER ? '' : ' (skipped: redis-server is not installed)';

/** Polls `check` until it holds, for at most `seconds`; whether it did. */
async function eventually(check: () => Promise<boolean>, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

// First in this file, so that its application is the first of the process: nestjs-pino keeps one
// root logger per process, the first application's, and this test reads that application's log.
describe('a Redis outage', () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let port: number;
  let url: string;
  let t: TestApp;
  let server: ChildProcess | undefined;
  let client: Redis | undefined;
  const { call } = httpHelpers(() => t);

  /** A throwaway Redis of the test's own on `port`, with a password, saving nothing. */
  async function startRedis(): Promise<void> {
    server = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password], {
      stdio: 'ignore',
    });
    client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    // Refused connections until the server is up are expected, not worth a line on the console.
    client.on('error', () => undefined);
    const up = await eventually(async () => {
      try {
        if (client!.status === 'wait') await client!.connect();
        return (await client!.ping()) === 'PONG';
      } catch {
        return false;
      }
    }, 10);
    expect(up, 'the throwaway redis-server did not start').toBe(true);
  }

  async function stopRedis(): Promise<void> {
    client?.disconnect();
    client = undefined;
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    await exited;
  }

  function logEntries(): Record<string, any>[] {
    return t.logs.map((line) => JSON.parse(line));
  }
  const warnings = () => logEntries().filter((e) => e.level === 40 && /Redis is unavailable/.test(e.msg ?? ''));
  const recoveries = () => logEntries().filter((e) => /Redis is back/.test(e.msg ?? ''));

  /** This key's request counter in Redis, or null when Redis holds none. */
  async function keyCounter(): Promise<number | null> {
    const keys = await client!.keys('wearable-connections:rate:key:*');
    if (keys.length === 0) return null;
    return Number(await client!.get(keys[0]));
  }

  async function validRequest() {
    const res = await call('get', '/api/v1/users');
    expect(res.status, res.text).toBe(200);
    return res;
  }

  beforeAll(async () => {
    port = await freePort();
    url = `redis://:${password}@127.0.0.1:${port}`;
    t = await startTestApp({ redisUrl: url, rateLimitPerMinute: 1_000, authFailureLimitPerMinute: 3 });
  });
  afterAll(async () => {
    await t?.close();
    await stopRedis();
  });

  it('serves every request while nothing listens at REDIS_URL, counting in memory, with one warning', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) remaining.push(Number((await validRequest()).headers['x-ratelimit-remaining']));
    expect(remaining).toEqual([999, 998, 997, 996, 995]);
    // The failed-authentication limit holds, in this instance's memory.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('get', '/api/v1/users', { key: 'wrong-key-0123456789' })).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    await validRequest();
    // ioredis has been failing to reconnect meanwhile, again and again: still one warning.
    await sleep(500);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0].msg).toMatch(/in this instance's memory/);
    for (const line of t.logs) expect(line).not.toContain(password);
  });

  it.skipIf(!REDIS_SERVER)(`counts in Redis again once it is up, then keeps serving when it stops, warning once per outage${NO_REDIS_SERVER}`, async () => {
    await startRedis();
    // ioredis reconnects by itself (backing off to 2 s at most): the counters move to Redis.
    const moved = await eventually(async () => {
      await validRequest();
      return (await keyCounter()) !== null;
    }, 20);
    expect(moved, 'the counters never reached Redis').toBe(true);
    expect(recoveries()).toHaveLength(1);
    const before = (await keyCounter())!;
    await validRequest();
    await validRequest();
    expect(await keyCounter()).toBe(before + 2);
    // Redis starts with no block on this address: wrong keys get 401 again.
    expect((await call('get', '/api/v1/users', { key: 'wrong-key-0123456789' })).status).toBe(401);

    await stopRedis();
    for (let i = 0; i < 5; i++) await validRequest();
    await sleep(300);
    expect(warnings()).toHaveLength(2);
    for (const line of t.logs) expect(line).not.toContain(password);
  });

  it.skipIf(!REDIS_SERVER)(`does not wait on a Redis that stops answering, and goes back to it once it answers${NO_REDIS_SERVER}`, async () => {
    await startRedis();
    expect(await eventually(async () => (await validRequest(), (await keyCounter()) !== null), 20)).toBe(true);
    expect(recoveries()).toHaveLength(2);

    // Frozen: connected, but answering nothing. Each request is still served (after the command timeout).
    server!.kill('SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) await validRequest();
      expect(warnings()).toHaveLength(3);
    } finally {
      server!.kill('SIGCONT');
    }
    // Asked again now and then, it answers: the counters are in Redis again.
    const before = await keyCounter();
    expect(await eventually(async () => recoveries().length === 3, 10)).toBe(true);
    await validRequest();
    expect(await keyCounter()).toBeGreaterThan(before!);
    for (const line of t.logs) expect(line).not.toContain(password);
  });
});

// Two instances of the service and one Redis: the limits are shared.
const REDIS_UP = await redisAvailable(REDIS_URL);
describe.skipIf(!REDIS_UP)(`rate limits kept in Redis${REDIS_UP ? '' : ' (skipped: no Redis answers on 127.0.0.1:6379)'}`, () => {
  let a: TestApp;
  let b: TestApp;
  const onA = httpHelpers(() => a).call;
  const onB = httpHelpers(() => b).call;
  const redis = new Redis(REDIS_URL);

  async function clearCounters() {
    const keys = await redis.keys('wearable-connections:rate:*');
    if (keys.length > 0) await redis.del(...keys);
  }

  beforeAll(async () => {
    await clearCounters();
    a = await startTestApp({ redisUrl: REDIS_URL, rateLimitPerMinute: 6, authFailureLimitPerMinute: 4 });
    // On PostgreSQL both share one database, so ADMIN_KEY is one key (one id) to both; the embedded
    // database takes a single client, so there each instance has its own.
    b = await startTestApp({
      redisUrl: REDIS_URL,
      rateLimitPerMinute: 6,
      authFailureLimitPerMinute: 4,
      ...(process.env.DATABASE_URL ? { databaseUrl: a.databaseUrl } : {}),
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await clearCounters();
    redis.disconnect();
  });

  it('should block an address on one instance after failed attempts on the other', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await onA('get', '/api/v1/users', { key: `wrong-${randomBytes(8).toString('hex')}` });
      expect(res.status).toBe(401);
    }
    const res = await onB('get', '/api/v1/users', { key: 'wrong-again-0123456789' });
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body).toEqual({ detail: expect.stringContaining('failed authentication') });
    // Blocked for every wrong key from the address, on either instance; a valid key is still admitted.
    expect((await onA('get', '/api/v1/users', { key: 'wrong-on-a-0123456789' })).status).toBe(429);
    expect((await onB('get', '/api/v1/users', { key: null })).status).toBe(429);
    expect((await onA('get', '/api/v1/users')).status).toBe(200);
    expect((await onB('get', '/api/v1/users')).status).toBe(200);
    await clearCounters();
  });

  it.skipIf(!process.env.DATABASE_URL)('should count one key across instances (PostgreSQL only: two instances cannot share the embedded database)', async () => {
    await clearCounters();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await (i % 2 ? onB : onA)('get', '/api/v1/users')).status);
    }
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses[6]).toBe(429);
    await clearCounters();
  });
});
