import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisAvailable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

// Two instances of the service and one Redis: the limits are shared.
describe.skipIf(!(await redisAvailable()))('rate limits kept in Redis', () => {
  let a: TestApp;
  let b: TestApp;
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
      const res = await request(a.server).get('/api/v1/users').set('X-API-Key', `wrong-${randomBytes(8).toString('hex')}`);
      expect(res.status).toBe(401);
    }
    const res = await request(b.server).get('/api/v1/users').set('X-API-Key', 'wrong-again-0123456789');
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body).toEqual({ detail: expect.stringContaining('failed authentication') });
    // Blocked for every attempt from the address, even with the right key, on either instance.
    expect((await request(a.server).get('/api/v1/users').set('X-API-Key', ADMIN_KEY)).status).toBe(429);
    await clearCounters();
  });

  it.skipIf(!process.env.DATABASE_URL)('should count one key across instances', async () => {
    await clearCounters();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const app = i % 2 ? b : a;
      statuses.push((await request(app.server).get('/api/v1/users').set('X-API-Key', ADMIN_KEY)).status);
    }
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses[6]).toBe(429);
    await clearCounters();
  });
});
