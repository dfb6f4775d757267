import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_MEMORY_COUNTERS, MAX_STORED_KEY_LENGTH, MemoryRateLimitStorage, RedisRateLimitStorage, storedKey } from './rate-limit.storage.js';
import { redisAvailable } from '../../test/support/redis.js';

const MINUTE = 60_000;

describe('MemoryRateLimitStorage windows and blocks', () => {
  let storage: MemoryRateLimitStorage;

  afterEach(async () => {
    await storage?.close();
    vi.useRealTimers();
  });

  function start(): void {
    // Fake timers before the storage is made, so that its sweeper runs on them too.
    vi.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    storage = new MemoryRateLimitStorage();
  }

  it('counts the hits of a key in a window, each key apart, and starts again when the window ends', async () => {
    start();
    const totals: number[] = [];
    for (let i = 0; i < 3; i++) totals.push((await storage.hit('key:a', MINUTE, 10, MINUTE)).totalHits);
    expect(totals).toEqual([1, 2, 3]);
    expect(await storage.hit('key:b', MINUTE, 10, MINUTE)).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });

    vi.advanceTimersByTime(20_500);
    expect(await storage.hit('key:a', MINUTE, 10, MINUTE)).toEqual({ totalHits: 4, timeToExpire: 40, isBlocked: false, timeToBlockExpire: 0 });

    vi.advanceTimersByTime(39_500);
    expect(await storage.hit('key:a', MINUTE, 10, MINUTE)).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('blocks past the limit for blockMs; hits during the block count but do not extend it', async () => {
    start();
    const records = [];
    for (let i = 0; i < 4; i++) records.push(await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000));
    expect(records.map((r) => r.isBlocked)).toEqual([false, false, false, true]);
    expect(records[3]).toEqual({ totalHits: 4, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 90 });
    vi.advanceTimersByTime(30_000);
    expect(await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000)).toEqual({ totalHits: 5, timeToExpire: 30, isBlocked: true, timeToBlockExpire: 60 });

    // Into the next window: the count starts again, the block holds to its end and no further.
    vi.advanceTimersByTime(31_000);
    expect(await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000)).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 29 });
    vi.advanceTimersByTime(29_000);
    expect(await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000)).toMatchObject({ totalHits: 2, isBlocked: false, timeToBlockExpire: 0 });
    // Past the limit again: a new block.
    await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000);
    expect(await storage.hit('auth-failure:203.0.113.1', MINUTE, 3, 90_000)).toMatchObject({ totalHits: 4, isBlocked: true, timeToBlockExpire: 90 });
  });

  it('drops counters whose window and block have ended, keeping the others', async () => {
    start();
    await storage.hit('short', MINUTE, 10, MINUTE);
    for (let i = 0; i < 3; i++) await storage.hit('blocked', MINUTE, 2, 5 * MINUTE);
    expect(storage.size).toBe(2);
    vi.advanceTimersByTime(2 * MINUTE);
    expect([...storage.keys()]).toEqual(['blocked']);
    vi.advanceTimersByTime(4 * MINUTE);
    expect(storage.size).toBe(0);
  });
});

describe('MemoryRateLimitStorage bounds', () => {
  it('holds at most its cap of counters, whatever keys it is given, dropping the oldest', async () => {
    const storage = new MemoryRateLimitStorage(1_000);
    try {
      // 14 KiB addresses, each new: what a client setting X-Forwarded-For could send.
      const base = 'x'.repeat(14 * 1024);
      for (let i = 0; i < 5_000; i++) await storage.hit(`auth-failure:${base}${i}`, MINUTE, 30, MINUTE);
      expect(storage.size).toBe(1_000);
      for (const key of storage.keys()) expect(key.length).toBeLessThanOrEqual(MAX_STORED_KEY_LENGTH);
      // The newest are kept, the oldest dropped.
      expect((await storage.hit(`auth-failure:${base}4999`, MINUTE, 30, MINUTE)).totalHits).toBe(2);
      expect((await storage.hit(`auth-failure:${base}0`, MINUTE, 30, MINUTE)).totalHits).toBe(1);
      expect(storage.size).toBe(1_000);
    } finally {
      await storage.close();
    }
  });

  it('keeps no more of a key than the key: not the 14 KiB X-Forwarded-For it was cut from', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const storage = new MemoryRateLimitStorage();
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 5_000; i++) {
        // As Fastify takes the address from the header: a piece cut from the header's text.
        const header = `${'x'.repeat(14 * 1024)}, 2001:db8::${i.toString(16)}`;
        const address = header.slice(header.lastIndexOf(',') + 2);
        await storage.hit(`auth-failure:${address}`, MINUTE, 30, MINUTE);
      }
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      expect(storage.size).toBe(5_000);
      // The headers add up to 70 MiB; the 5,000 counters themselves to well under 2 MiB.
      expect(grown, `${(grown / 1024 / 1024).toFixed(1)} MiB kept`).toBeLessThan(20 * 1024 * 1024);
    } finally {
      await storage.close();
    }
  });

  it('caps itself at MAX_MEMORY_COUNTERS by default', async () => {
    const storage = new MemoryRateLimitStorage();
    try {
      for (let i = 0; i < MAX_MEMORY_COUNTERS + 500; i++) await storage.hit(`auth-failure:${i}`, MINUTE, 30, MINUTE);
      expect(storage.size).toBe(MAX_MEMORY_COUNTERS);
    } finally {
      await storage.close();
    }
  });

  it('counts a long key as itself: the same one adds up and blocks, one differing only at its end does not', async () => {
    const storage = new MemoryRateLimitStorage();
    try {
      const long = 'y'.repeat(10_000);
      const records = [];
      for (let i = 0; i < 5; i++) records.push(await storage.hit(`${long}1`, MINUTE, 3, MINUTE));
      expect(records.map((r) => r.totalHits)).toEqual([1, 2, 3, 4, 5]);
      expect(records.map((r) => r.isBlocked)).toEqual([false, false, false, true, true]);
      expect(await storage.hit(`${long}2`, MINUTE, 3, MINUTE)).toMatchObject({ totalHits: 1, isBlocked: false });
      // Short keys are stored as they are.
      await storage.hit('auth-failure:203.0.113.5', MINUTE, 3, MINUTE);
      expect([...storage.keys()]).toContain('auth-failure:203.0.113.5');
      expect(storedKey('auth-failure:203.0.113.5')).toBe('auth-failure:203.0.113.5');
    } finally {
      await storage.close();
    }
  });
});

describe('storedKey', () => {
  it('keeps a key of up to MAX_STORED_KEY_LENGTH characters as it is, and makes a longer one that long at most', () => {
    const atMost = 'a'.repeat(MAX_STORED_KEY_LENGTH);
    expect(storedKey(atMost)).toBe(atMost);
    for (const length of [MAX_STORED_KEY_LENGTH + 1, 1_000, 16 * 1024]) {
      const key = 'b'.repeat(length);
      expect(storedKey(key).length).toBeLessThanOrEqual(MAX_STORED_KEY_LENGTH);
      expect(storedKey(key)).toBe(storedKey(key));
    }
    expect(storedKey(`${'c'.repeat(500)}1`)).not.toBe(storedKey(`${'c'.repeat(500)}2`));
  });
});

// On a database of its own (15), so that tests clearing the service's counters in database 0 do not reach these.
const REDIS_URL = 'redis://127.0.0.1:6379/15';


const REDIS_UP = await redisAvailable(REDIS_URL);

describe.skipIf(!REDIS_UP)(`RedisRateLimitStorage windows and blocks${REDIS_UP ? '' : ' (skipped: no Redis answers on 127.0.0.1:6379)'}`, () => {
  let storage: RedisRateLimitStorage;
  let redis: Redis;
  const run = randomBytes(6).toString('hex');

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    storage = new RedisRateLimitStorage(REDIS_URL);
    // Until it has connected the storage counts in memory: wait for a counter to reach Redis.
    const probe = `test:${run}:probe`;
    for (let i = 0; i < 100 && (await redis.exists(`wearable-connections:rate:${probe}`)) === 0; i++) {
      await storage.hit(probe, MINUTE, 10, MINUTE);
      await sleep(50);
    }
    expect(await redis.exists(`wearable-connections:rate:${probe}`)).toBe(1);
  });
  afterAll(async () => {
    await storage?.close();
    const keys = await redis.keys(`wearable-connections:rate:test:${run}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('counts in Redis, blocks past the limit, and starts again when the window and the block end', async () => {
    const key = `test:${run}:window`;
    const records = [];
    for (let i = 0; i < 4; i++) records.push(await storage.hit(key, 400, 3, 400));
    expect(records.map((r) => r.totalHits)).toEqual([1, 2, 3, 4]);
    expect(records.map((r) => r.isBlocked)).toEqual([false, false, false, true]);
    expect(records[3]).toMatchObject({ timeToExpire: 1, timeToBlockExpire: 1 });
    expect(Number(await redis.get(`wearable-connections:rate:${key}`))).toBe(4);

    await sleep(500);
    expect(await storage.hit(key, 400, 3, 400)).toEqual({ totalHits: 1, timeToExpire: 1, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('keeps a block to its end: hits during it count but do not extend it', async () => {
    const key = `test:${run}:block`;
    for (let i = 0; i < 3; i++) await storage.hit(key, MINUTE, 2, 3_000);
    const blockedMs = await redis.pttl(`wearable-connections:rate:${key}:blocked`);
    expect(blockedMs).toBeGreaterThan(2_000);
    await sleep(200);
    expect(await storage.hit(key, MINUTE, 2, 3_000)).toMatchObject({ totalHits: 4, isBlocked: true, timeToBlockExpire: 3 });
    expect(await redis.pttl(`wearable-connections:rate:${key}:blocked`)).toBeLessThan(blockedMs);
  });

  it('stores a long key at most MAX_STORED_KEY_LENGTH long, and counts two long keys apart', async () => {
    const long = `test:${run}:${'z'.repeat(12 * 1024)}`;
    await storage.hit(`${long}a`, MINUTE, 10, MINUTE);
    await storage.hit(`${long}a`, MINUTE, 10, MINUTE);
    expect((await storage.hit(`${long}b`, MINUTE, 10, MINUTE)).totalHits).toBe(1);
    const keys = await redis.keys(`wearable-connections:rate:test:${run}:zzz*`);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key.length).toBeLessThanOrEqual('wearable-connections:rate:'.length + MAX_STORED_KEY_LENGTH);
  });
});
