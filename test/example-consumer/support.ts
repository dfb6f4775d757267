import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import { Sql } from '../../src/database/sql.js';
import { ConnectionsService, WearableConnectionsModule, type WearableConnectionsOptions } from '../../src/index.js';
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
 * Another team's application, built as the README's "Using wearable-connections from another Nest
 * application" tells it to: WearableConnectionsModule.forRoot() beside its own module, on a plain
 * FastifyAdapter, with nothing else wired by hand (no hook, no key). Served as a testing module, on a
 * fresh database (embedded PGlite, or a new database on DATABASE_URL) or on `database` when given
 * (shared, not dropped). `beforeReady` may add to the application (a route, say) before it is sealed.
 */
export async function startConsumerApp(
  database?: TestDatabase,
  beforeReady?: (app: NestFastifyApplication) => void,
): Promise<ConsumerApp> {
  const owned = database === undefined;
  const db = database ?? (await freshDatabase());
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const options: WearableConnectionsOptions = {
    ...testRuntimeConfig(db.url),
    bootstrapApiKey: CONSUMER_ADMIN_KEY,
    tokenEncryptionKey: CONSUMER_TOKEN_KEY,
    logStream,
  };
  let app: NestFastifyApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [WearableConnectionsModule.forRoot(options), SyncWorkerModule],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();
    beforeReady?.(app);
    await app.getHttpAdapter().getInstance().ready();
    const started = app;
    const worker = moduleRef.select(SyncWorkerModule).get(SyncWorker);
    return {
      app: started,
      moduleRef,
      worker,
      // The instance the consumer's own provider was given.
      connections: worker.connections,
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
