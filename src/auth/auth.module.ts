import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { ApiKeyThrottlerGuard } from './api-key-throttler.guard.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeysController } from './api-keys.controller.js';
import { ApiKeysService } from './api-keys.service.js';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import { MemoryRateLimitStorage, type RateLimitStorage, RedisRateLimitStorage } from './rate-limit.storage.js';

@Injectable()
class RateLimitStorageCloser implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_STORAGE) private readonly storage: RateLimitStorage) {}

  onApplicationShutdown(): Promise<void> {
    return this.storage.close();
  }
}

@Module({})
export class AuthModule {
  /** API keys, and the limits: per key, and per client address for failed authentication. */
  static forRoot(options: AuthOptions): DynamicModule {
    const storage = options.redisUrl ? new RedisRateLimitStorage(options.redisUrl) : new MemoryRateLimitStorage();
    return {
      module: AuthModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', ttl: 60_000, limit: options.rateLimitPerMinute }],
          storage,
          errorMessage: (_context, limit) =>
            `Rate limit exceeded: ${limit.limit} requests per minute per API key; retry after ${limit.timeToBlockExpire} s`,
        }),
      ],
      controllers: [ApiKeysController],
      providers: [
        ApiKeysService,
        { provide: AUTH_OPTIONS, useValue: options },
        { provide: RATE_LIMIT_STORAGE, useValue: storage },
        RateLimitStorageCloser,
        // In this order: the key is known before its limit is counted.
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: ApiKeyThrottlerGuard },
      ],
      exports: [ApiKeysService],
    };
  }
}
