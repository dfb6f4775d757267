import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.js';
import { loadBackgroundConfig } from '../../src/config/background.config.js';
import { loadWebhooksConfig } from '../../src/config/webhooks.config.js';
import { loadConnectConfig } from '../../src/config/connect.config.js';
import { loadProvidersConfig } from '../../src/config/providers.config.js';
import type { RuntimeConfig } from '../../src/app.module.js';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';
export const TOKEN_KEY = randomBytes(32);

export interface TestApp {
  app: NestFastifyApplication;
  /** The HTTP server, for supertest. */
  server: import('node:http').Server;
  /** The database URL the app runs on, for direct checks. */
  databaseUrl: string;
  /** Every line the application logged, to search for secrets. */
  logs: string[];
  /**
   * Runs SQL on the app's database directly: through a client of its own on PostgreSQL; on the
   * embedded database, which takes a single client (the app's pool), through the app's DataSource.
   */
  query<T>(text: string, values?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** The configuration tests run the application with: the production defaults, limits raised out of the way. */
export function testRuntimeConfig(databaseUrl: string): RuntimeConfig {
  return {
    databaseUrl,
    embedded: !process.env.DATABASE_URL,
    dbPoolSize: process.env.DATABASE_URL ? 5 : 1,
    dbConnectTimeoutMs: 5_000,
    dbStatementTimeoutMs: 10_000,
    bootstrapApiKey: ADMIN_KEY,
    demoData: false,
    tokenEncryptionKey: TOKEN_KEY,
    tokenEncryptionKeysOld: [],
    // High enough for any test; the limit tests set their own.
    rateLimitPerMinute: 1_000_000,
    authFailureLimitPerMinute: 1_000_000,
    trustProxy: false,
    requestTimeoutMs: 30_000,
    logLevel: 'info',
    providers: loadProvidersConfig({}),
    connect: loadConnectConfig({}),
    background: loadBackgroundConfig({}),
    webhooks: loadWebhooksConfig({}),
  };
}

/**
 * The whole application on a real, empty, migrated database: a fresh PostgreSQL database when
 * DATABASE_URL is set (dropped afterwards), otherwise an in-memory embedded one. `beforeReady` may add
 * to the application (a route, say) before it is sealed.
 */
export async function startTestApp(
  options: Partial<RuntimeConfig> = {},
  beforeReady?: (app: NestFastifyApplication) => void,
): Promise<TestApp> {
  const database = await freshDatabase();
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  try {
    const app = await createApp(
      {
        ...testRuntimeConfig(database.url),
        ...options,
      },
      logStream,
    );
    beforeReady?.(app);
    await app.getHttpAdapter().getInstance().ready();
    return {
      app,
      server: app.getHttpServer(),
      databaseUrl: database.url,
      logs,
      async query<T>(text: string, values: unknown[] = []): Promise<T[]> {
        if (!process.env.DATABASE_URL) return (await app.get(DataSource).query(text, values)) as T[];
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          return (await client.query(text, values)).rows as T[];
        } finally {
          await client.end();
        }
      },
      async close() {
        await app.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** An in-memory embedded database, or, when DATABASE_URL is set, a new database on that server. */
export async function freshDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const embedded = await EmbeddedPostgres.start();
    return { url: embedded.url, drop: () => embedded.stop() };
  }
  return freshPostgresDatabase(base);
}

/** A new, empty database on the PostgreSQL server of `base`; drop() removes it, connections and all. */
export async function freshPostgresDatabase(base: string): Promise<TestDatabase> {
  const name = `wc_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(base, `CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Runs one statement on its own connection. */
export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
