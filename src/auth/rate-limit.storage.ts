import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
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
 * limit costs nothing.
 */
export interface RateLimitStorage {
  /**
   * Counts a hit on `key` in its window of `ttlMs`. Past `limit` hits the key is blocked for
   * `blockMs`; hits during a block count in their window as any other, and do not extend it.
   */
  hit(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord>;
  /** hit(), answered at once, where the storage can (in memory); absent where it cannot. */
  hitNow?(key: string, ttlMs: number, limit: number, blockMs: number): RateLimitRecord;
  close(): Promise<void>;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** Keys longer than this (a client-chosen address, say) are stored as their first characters and a hash. */
export const MAX_STORED_KEY_LENGTH = 100;
const KEPT_PREFIX_LENGTH = 40;

/**
 * The key as stored: itself when short, as every real one is (`auth-failure:<IPv6 address>` is
 * under 60 characters); otherwise its first characters and its SHA-256, so that what a client
 * sends cannot make a counter's key, in memory or in Redis, longer than MAX_STORED_KEY_LENGTH.
 */
export function storedKey(key: string): string {
  if (key.length <= MAX_STORED_KEY_LENGTH) return key;
  return `${key.slice(0, KEPT_PREFIX_LENGTH)}#${createHash('sha256').update(key).digest('base64url')}`;
}

/**
 * The same text in a string of its own. A key is often cut from a longer string (the client address
 * from an X-Forwarded-For header of up to 16 KiB), and V8 keeps a cut-out piece as a view of the
 * whole: kept as a Map key, it would keep the whole header alive, and a capped number of counters
 * would not cap their memory. Paid once per new counter, not per hit.
 */
function ownCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** The most counters MemoryRateLimitStorage keeps; past it, the oldest is dropped for a new one. */
export const MAX_MEMORY_COUNTERS = 100_000;

/**
 * Counters in this process, at most `maxEntries` of them (each key at most MAX_STORED_KEY_LENGTH
 * long), whatever clients send: a new key past the cap evicts the oldest. That bounds the memory
 * at a few tens of megabytes; evicting a counter only ever forgets hits, so it can end a block early,
 * never start one.
 */
export class MemoryRateLimitStorage implements RateLimitStorage {
  private readonly windows = new Map<string, { hits: number; resetAt: number; blockedUntil: number }>();
  private readonly sweeper = setInterval(() => this.sweep(), 60_000).unref();

  constructor(private readonly maxEntries = MAX_MEMORY_COUNTERS) {}

  /** How many counters are held. */
  get size(): number {
    return this.windows.size;
  }

  /** The keys of the counters held, as stored (see storedKey). */
  keys(): IterableIterator<string> {
    return this.windows.keys();
  }

  async hit(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord> {
    return this.hitNow(key, ttlMs, limit, blockMs);
  }

  hitNow(key: string, ttlMs: number, limit: number, blockMs: number): RateLimitRecord {
    const now = Date.now();
    const stored = storedKey(key);
    let window = this.windows.get(stored);
    if (!window) {
      if (this.windows.size >= this.maxEntries) this.evictOldest();
      window = { hits: 0, resetAt: now + ttlMs, blockedUntil: 0 };
      this.windows.set(ownCopy(stored), window);
    } else if (window.resetAt <= now) {
      window.hits = 0;
      window.resetAt = now + ttlMs;
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

  /** Drops the counter set first (a Map iterates in insertion order). */
  private evictOldest(): void {
    const oldest = this.windows.keys().next();
    if (!oldest.done) this.windows.delete(oldest.value);
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

const REDIS_KEY_PREFIX = 'wearable-connections:rate:';

export interface RedisRateLimitOptions {
  /** How long a Redis command may take before it counts as failed (and the counter is kept in memory). */
  commandTimeoutMs?: number;
  /** While Redis is connected but not answering, how often it is asked again (PING). */
  probeIntervalMs?: number;
  /** The counters kept while Redis is unavailable. */
  fallback?: MemoryRateLimitStorage;
}

/**
 * Counters in Redis, shared by every instance of the service; while Redis is unavailable, in this
 * instance's memory. A Redis outage never fails a request: a command fails fast (no offline queue,
 * a command timeout), the counter is kept in memory instead, one warning is logged per outage, and
 * the counters go back to Redis as soon as it answers again (ioredis reconnects by itself).
 */
export class RedisRateLimitStorage implements RateLimitStorage {
  private readonly redis: Redis;
  private readonly fallback: MemoryRateLimitStorage;
  private readonly logger = new Logger('RateLimits');
  private readonly password: string;
  private readonly probeIntervalMs: number;
  /** Commands go to Redis: it is connected and has not failed since. */
  private usable = false;
  /** An outage has been announced, and not yet its end. */
  private down = false;
  private closing = false;
  private probe: NodeJS.Timeout | undefined;

  constructor(url: string, options: RedisRateLimitOptions = {}) {
    this.password = safeDecode(new URL(url).password);
    this.probeIntervalMs = options.probeIntervalMs ?? 1_000;
    this.fallback = options.fallback ?? new MemoryRateLimitStorage();
    this.redis = new Redis(url, {
      keyPrefix: REDIS_KEY_PREFIX,
      // A command while disconnected fails at once instead of waiting in a queue for a reconnection,
      // and one sent to a Redis that does not answer fails after commandTimeout.
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
    });
    this.redis.defineCommand('rateIncrement', { numberOfKeys: 2, lua: INCREMENT });
    this.redis.on('ready', () => this.recovered());
    // Listening to 'error' also keeps ioredis from printing every failed reconnection to the console.
    this.redis.on('error', (error: Error) => this.failed(error));
    this.redis.on('close', () => this.failed(new Error('the connection closed')));
  }

  hit(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitRecord> {
    if (!this.usable) return this.fallback.hit(key, ttlMs, limit, blockMs);
    const stored = storedKey(key);
    const run = (this.redis as unknown as { rateIncrement: (...args: unknown[]) => Promise<number[]> }).rateIncrement;
    return run.call(this.redis, stored, `${stored}:blocked`, ttlMs, limit, blockMs).then(
      ([hits, leftMs, blockedMs]) => {
        const isBlocked = blockedMs > 0;
        return { totalHits: hits, timeToExpire: seconds(leftMs), isBlocked, timeToBlockExpire: isBlocked ? seconds(blockedMs) : 0 };
      },
      (error: Error) => {
        this.failed(error);
        return this.fallback.hit(key, ttlMs, limit, blockMs);
      },
    );
  }

  /** Redis failed (a command, or the connection): counters go to memory; the first failure of an outage is logged. */
  private failed(error: Error): void {
    if (this.closing) return;
    this.usable = false;
    if (!this.down) {
      this.down = true;
      this.logger.warn(
        `Redis is unavailable (${this.describe(error)}); rate limits are counted in this instance's memory until it is back`,
      );
    }
    // Still connected, yet a command failed (it timed out, say): no 'ready' will announce the end of
    // this outage, so Redis is asked again now and then.
    if (this.redis.status === 'ready' && !this.probe) {
      this.probe = setInterval(() => {
        if (this.redis.status === 'ready') this.redis.ping().then(() => this.recovered(), () => undefined);
      }, this.probeIntervalMs).unref();
    }
  }

  private recovered(): void {
    if (this.closing) return;
    this.usable = true;
    if (this.probe) {
      clearInterval(this.probe);
      this.probe = undefined;
    }
    if (this.down) {
      this.down = false;
      this.logger.log('Redis is back; rate limits are counted in Redis again');
    }
  }

  /** The error's message, short, without the password of REDIS_URL should it ever hold it. */
  private describe(error: Error): string {
    let message = String(error?.message ?? error).slice(0, 200);
    if (this.password) message = message.split(this.password).join('[redacted]');
    return message;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.probe) clearInterval(this.probe);
    await this.fallback.close();
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
