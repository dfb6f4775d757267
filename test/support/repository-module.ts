import type { Provider as NestProvider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DatabaseModule } from '../../src/database/database.module.js';
import { freshDatabase } from './test-app.js';

export interface RepositoryModule {
  moduleRef: TestingModule;
  dataSource: DataSource;
  /** The database's URL, for a client of a test's own (PostgreSQL only: the embedded database takes one). */
  databaseUrl: string;
  /** Closes the module and drops its database. */
  close(): Promise<void>;
}

/**
 * A repository (or a few) in a module of their own, on a real, migrated, fresh database: the embedded
 * one (one connection), or a new database on DATABASE_URL with `poolSize` connections, for races.
 */
export async function startRepositoryModule(options: {
  providers: NestProvider[];
  entities?: Type[];
  poolSize?: number;
}): Promise<RepositoryModule> {
  const onPostgres = Boolean(process.env.DATABASE_URL);
  const database = await freshDatabase();
  let moduleRef: TestingModule | undefined;
  try {
    moduleRef = await Test.createTestingModule({
      imports: [
        DatabaseModule.forRoot(
          database.url,
          { poolSize: onPostgres ? (options.poolSize ?? 4) : 1, connectTimeoutMs: 5_000, statementTimeoutMs: 10_000 },
          !onPostgres,
        ),
        ...(options.entities?.length ? [TypeOrmModule.forFeature(options.entities)] : []),
      ],
      providers: options.providers,
    }).compile();
    await moduleRef.init();
  } catch (error) {
    await moduleRef?.close().catch(() => undefined);
    await database.drop();
    throw error;
  }
  const started = moduleRef;
  return {
    moduleRef: started,
    dataSource: started.get(DataSource),
    databaseUrl: database.url,
    async close() {
      await started.close();
      await database.drop();
    },
  };
}
