import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKey } from './api-key.entity.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeysController } from './api-keys.controller.js';
import { ApiKeysRepository } from './api-keys.repository.js';
import { ApiKeysService } from './api-keys.service.js';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import { AuthService } from './auth.service.js';
import { BootstrapApiKey } from './bootstrap-api-key.js';
import { FailedLookups } from './failed-lookups.js';
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
  /**
   * API keys (the bootstrap key registered at start-up), the global ApiKeyGuard, and its limits: per
   * key, and per client address for failed authentication; FailedLookups, the same limit for the public
   * routes' secrets in URLs.
   */
  static forRoot(options: AuthOptions): DynamicModule {
    return {
      module: AuthModule,
      // The entity describes the table for TypeORM's schema tools; the repository's statements are SQL.
      imports: [TypeOrmModule.forFeature([ApiKey])],
      controllers: [ApiKeysController],
      providers: [
        ApiKeysRepository,
        ApiKeysService,
        AuthService,
        BootstrapApiKey,
        FailedLookups,
        { provide: AUTH_OPTIONS, useValue: options },
        {
          provide: RATE_LIMIT_STORAGE,
          useFactory: (): RateLimitStorage =>
            options.redisUrl ? new RedisRateLimitStorage(options.redisUrl) : new MemoryRateLimitStorage(),
        },
        RateLimitStorageCloser,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
      ],
      exports: [ApiKeysService, FailedLookups],
    };
  }
}
