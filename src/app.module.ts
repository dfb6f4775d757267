import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TerminusModule } from '@nestjs/terminus';
import type { DestinationStream } from 'pino';
import { AuthModule } from './auth/auth.module.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { loggingModule } from './common/logging.js';
import type { AppConfig } from './config/app.config.js';
import { ConnectionsModule } from './connections/connections.module.js';
import { CryptoModule } from './crypto/crypto.module.js';
import { TokenCipher } from './crypto/token-cipher.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthController } from './health.controller.js';
import { UsersModule } from './users/users.module.js';

/** What the application needs once start-up has settled where the database and the token key are. */
export type RuntimeConfig = Omit<AppConfig, 'port' | 'host' | 'dataDir' | 'databaseUrl' | 'tokenEncryptionKey'> & {
  databaseUrl: string;
  /** The database is the embedded one (PGlite), not a PostgreSQL server. */
  embedded: boolean;
  tokenEncryptionKey: Buffer;
};

@Module({})
export class AppModule {
  static forRoot(config: RuntimeConfig, logStream?: DestinationStream): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // The settled configuration, for any provider that wants it: ConfigService.get('app').
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, ignoreEnvVars: true, load: [() => ({ app: config })] }),
        loggingModule(config.logLevel, logStream),
        EventEmitterModule.forRoot(),
        DatabaseModule.forRoot(
          config.databaseUrl,
          { poolSize: config.dbPoolSize, connectTimeoutMs: config.dbConnectTimeoutMs, statementTimeoutMs: config.dbStatementTimeoutMs },
          config.embedded,
        ),
        CryptoModule.forRoot(new TokenCipher(config.tokenEncryptionKey, config.tokenEncryptionKeysOld)),
        AuthModule.forRoot(config),
        UsersModule,
        ConnectionsModule,
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [HealthController],
      // @Exclude() is applied to every response by entitySerializerHook() (see createApp).
      providers: [{ provide: APP_FILTER, useClass: HttpExceptionFilter }],
    };
  }
}
