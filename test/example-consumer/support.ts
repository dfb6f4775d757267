import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import { AppModule, type RuntimeConfig } from '../../src/app.module.js';
import { ApiKeysService } from '../../src/auth/api-keys.service.js';
import { ConnectionsService } from '../../src/connections/connections.service.js';
import { Sql } from '../../src/database/sql.js';
import { UsersService } from '../../src/users/users.service.js';
import { freshDatabase, type TestDatabase, testRuntimeConfig } from '../support/test-app.js';

export { freshDatabase, type TestDatabase };
import { SyncWorker, SyncWorkerModule } from './sync-worker.module.js';

export const CONSUMER_ADMIN_KEY = 'consumer-admin-key-0123456789abcdef';
/** One token key for every instance of a run, so that instances sharing a database read each other's tokens. */
export const CONSUMER_TOKEN_KEY = randomBytes(32);

export interface ConsumerApp {
  app: NestFastifyApplication;
  moduleRef: TestingModule;
  /** Resolved from the consumer's module, as the consumer sees them. */
  worker: SyncWorker;
  connections: ConnectionsService;
  users: UsersService;
  sql: Sql;
  database: TestDatabase;
  logs: string[];
  /** GET/DELETE through the HTTP API with an admin key. */
  http(method: 'GET' | 'DELETE', url: string): Promise<{ statusCode: number; body: string; json(): unknown }>;
  /** Closes the application; drops the database only if this instance created it. */
  close(): Promise<void>;
}

/**
 * AppModule plus the example consumer, as a testing module served over Fastify, on a fresh database
 * (embedded PGlite, or a new database on DATABASE_URL) or on `database` when given (shared, not dropped).
 */
export async function startConsumerApp(database?: TestDatabase): Promise<ConsumerApp> {
  const owned = database === undefined;
  const db = database ?? (await freshDatabase());
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const config: RuntimeConfig = {
    ...testRuntimeConfig(db.url),
    bootstrapApiKey: CONSUMER_ADMIN_KEY,
    tokenEncryptionKey: CONSUMER_TOKEN_KEY,
  };
  let app: NestFastifyApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config, logStream), SyncWorkerModule],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    await app.get(ApiKeysService).register('bootstrap', CONSUMER_ADMIN_KEY, ['admin']);
    const started = app;
    const worker = moduleRef.select(SyncWorkerModule).get(SyncWorker);
    return {
      app: started,
      moduleRef,
      worker,
      connections: moduleRef.select(SyncWorkerModule).get(ConnectionsService),
      users: app.get(UsersService),
      sql: app.get(Sql),
      database: db,
      logs,
      async http(method, url) {
        const res = await started.inject({ method, url, headers: { 'x-api-key': CONSUMER_ADMIN_KEY } });
        return { statusCode: res.statusCode, body: res.body, json: () => res.json() };
      },
      async close() {
        await started.close();
        if (owned) await db.drop();
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    if (owned) await db.drop();
    throw error;
  }
}
