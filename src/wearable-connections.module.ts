import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import type { DestinationStream } from 'pino';
import { AuthModule } from './auth/auth.module.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { HttpSafetyNets } from './common/http-hooks.js';
import { loggingModule } from './common/logging.js';
import { ConnectModule } from './connect/connect.module.js';
import type { AppConfig } from './config/app.config.js';
import { ConnectionsModule } from './connections/connections.module.js';
import { REFRESH_LEASE_SECONDS } from './connections/connections.service.js';
import { DEMO_DATA } from './connections/demo-data.js';
import { CryptoModule } from './crypto/crypto.module.js';
import { TokenCipher } from './crypto/token-cipher.js';
import { DatabaseModule } from './database/database.module.js';
import { DeauthorizationModule } from './deauthorization/deauthorization.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { ProvidersModule } from './providers/providers.module.js';
import { RefreshModule } from './refresh/refresh.module.js';
import { UsersModule } from './users/users.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/** What the application needs once start-up has settled where the database and the token key are (the process's own settings, its port and its shutdown deadline, are main.ts's). */
export type RuntimeConfig = Omit<AppConfig, 'port' | 'host' | 'dataDir' | 'databaseUrl' | 'tokenEncryptionKey' | 'shutdownTimeoutMs'> & {
  databaseUrl: string;
  /** The database is the embedded one (PGlite), not a PostgreSQL server. */
  embedded: boolean;
  tokenEncryptionKey: Buffer;
};

export type WearableConnectionsOptions = RuntimeConfig & {
  /** Where the JSON log lines go; standard output (buffered) when absent. */
  logStream?: DestinationStream;
};

/**
 * wearable-connections as one module, for the standalone service (AppModule) and for any Nest
 * application on the Fastify adapter alike: the HTTP API (/api/v1), ConnectionsService and its events,
 * and every safety net of the service's responses. Nothing else needs wiring: the hooks on each response
 * (security headers, body rules, @Exclude(), request log: HttpSafetyNets), the `{"detail"}` error
 * shape (HttpExceptionFilter), the API-key guard and the bootstrap key (AuthModule), migrations
 * (DatabaseModule), the demo data and the expiry sweep (ConnectionsModule, on ScheduleModule) all
 * come with it.
 *
 * The module is global: every module of the application can inject ConnectionsService, the same
 * instance the HTTP routes use, without importing anything.
 */
@Module({})
export class WearableConnectionsModule {
  static forRoot(options: WearableConnectionsOptions): DynamicModule {
    const { logStream, ...config } = options;
    // A refresh or a deregistration holds its lease for a few provider calls (Withings' revocation
    // takes two, a rejected refresh is tried twice), with room to store the outcome (LEASE_MARGIN_SECONDS).
    const leaseSeconds = Math.ceil((3 * config.providers.providerTimeoutMs) / 1000) + config.background.leaseMarginSeconds;
    return {
      module: WearableConnectionsModule,
      global: true,
      imports: [
        loggingModule(config.logLevel, logStream),
        EventEmitterModule.forRoot(),
        ScheduleModule.forRoot(),
        DatabaseModule.forRoot(
          config.databaseUrl,
          { poolSize: config.dbPoolSize, connectTimeoutMs: config.dbConnectTimeoutMs, statementTimeoutMs: config.dbStatementTimeoutMs },
          config.embedded,
        ),
        CryptoModule.forRoot(new TokenCipher(config.tokenEncryptionKey, config.tokenEncryptionKeysOld)),
        JobsModule.forRoot({ ...config.background.jobs, leaseSeconds }),
        AuthModule.forRoot(config),
        WebhooksModule.forRoot(config.webhooks, config.background.leaseMarginSeconds),
        UsersModule,
        ConnectionsModule,
        ProvidersModule.forRoot(config.providers),
        ConnectModule.forRoot(config.connect),
        RefreshModule.forRoot(config.background.refresh),
        DeauthorizationModule.forRoot(config.background.deregistrationRetryDelaysSeconds),
      ],
      providers: [
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        HttpSafetyNets,
        // Read by DemoData, which loads the spec's example when the application starts.
        { provide: DEMO_DATA, useValue: config.demoData },
        // Read by ConnectionsService: how long one refresh holds a connection's lease.
        { provide: REFRESH_LEASE_SECONDS, useValue: leaseSeconds },
      ],
      exports: [AuthModule, ConnectionsModule, ProvidersModule, RefreshModule, DEMO_DATA, REFRESH_LEASE_SECONDS],
    };
  }
}
