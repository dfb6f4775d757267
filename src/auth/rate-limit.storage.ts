import type { ThrottlerStorage } from '@nestjs/throttler';
import { Redis } from 'ioredis';

export interface RateLimitRecord {
  totalHits: number;
  /** Seconds until the window resets. */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds until the block ends. */
  timeToBlockExpire: number;
}

/**
 * A fixed-window counter per key: O(1) memory and time per hit, whatever the limit, so raising a
 * limit (as benchmarks do) costs nothing. `blockedFor` reads a block without counting a hit.
 *
 * `hit` and `blockedFor` answer at once, without a promise, when the storage can (in memory): the
 * guard runs them on every request.
 */
export interface RateLimitStorage extends ThrottlerStorage {
  increment(key: string, ttlMs: number, limit: number, blockMs: number, name: string): Promise<RateLimitRecord>;
  /** increment(), answered without a promise where the storage can. */
  hit(key: string, ttlMs: number, limit: number, blockMs: number): RateLimitRecord | Promise<RateLimitRecord>;
  /** Seconds the key is still blocked for; 0 when it is not. */
  blockedFor(key: string): number | Promise<number>;
  close(): Promise<void>;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** Counters in this process. */
export class MemoryRateLimitStorage implements RateLimitStorage {
  private readonly windows = new Map<string, { hits: number; resetAt: number; blockedUntil: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), 60_000).unref();

  async increment(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord> {
    return this.hit(key, ttlMs, limit, blockMs);
  }

  hit(key: string, ttlMs: number, limit: number, blockMs: number): RateLimitRecord {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { hits: 0, resetAt: now + ttlMs, blockedUntil: window?.blockedUntil ?? 0 };
      this.windows.set(key, window);
    }
    window.hits += 1;
    if (window.hits > limit && window.blockedUntil <= now) window.blockedUntil = now + blockMs;
    const blocked = window.blockedUntil > now;
    return {
      totalHits: window.hits,
      timeToExpire: seconds(window.resetAt - now),
      isBlocked: blocked,
      timeToBlockExpire: blocked ? seconds(window.blockedUntil - now) : 0,
    };
  }

  blockedFor(key: string): number {
    const window = this.windows.get(key);
    return window ? seconds(window.blockedUntil - Date.now()) : 0;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, window] of this.windows) {
      if (window.resetAt <= now && window.blockedUntil <= now) this.windows.delete(key);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

// KEYS: counter, block marker. ARGV: window ms, limit, block ms. Returns hits, window ms left, block ms left.
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
local blocked = redis.call('PTTL', KEYS[2])
if hits > tonumber(ARGV[2]) and blocked <= 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  blocked = tonumber(ARGV[3])
end
return {hits, left, blocked}`;

/** Counters in Redis, shared by every instance of the service. */
export class RedisRateLimitStorage implements RateLimitStorage {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { keyPrefix: 'wearable-connections:rate:', maxRetriesPerRequest: 2, lazyConnect: false });
    this.redis.defineCommand('rateIncrement', { numberOfKeys: 2, lua: INCREMENT });
  }

  async increment(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord> {
    const run = (this.redis as unknown as { rateIncrement: (...args: unknown[]) => Promise<number[]> }).rateIncrement;
    const [hits, leftMs, blockedMs] = await run.call(this.redis, key, `${key}:blocked`, ttlMs, limit, blockMs);
    const isBlocked = blockedMs > 0;
    return {
      totalHits: hits,
      timeToExpire: seconds(leftMs),
      isBlocked,
      timeToBlockExpire: isBlocked ? seconds(blockedMs) : 0,
    };
  }

  hit(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord> {
    return this.increment(key, ttlMs, limit, blockMs);
  }

  async blockedFor(key: string): Promise<number> {
    return seconds(await this.redis.pttl(`${key}:blocked`));
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
