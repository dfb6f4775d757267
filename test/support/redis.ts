import { Redis } from 'ioredis';

/** Whether a Redis answers at `url` (tests that need one skip, and say so, when none does). */
export async function redisAvailable(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
