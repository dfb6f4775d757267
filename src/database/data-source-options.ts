import type { DataSourceOptions } from 'typeorm';
import { migrations } from './migrations/index.js';

export interface PoolOptions {
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

const CLI_POOL: PoolOptions = { poolSize: 1, connectTimeoutMs: 10_000, statementTimeoutMs: 0 };

/**
 * The one description of the database, shared by the application and the TypeORM CLI (ormconfig.ts).
 * The entities belong to the feature modules, which register them (`TypeOrmModule.forFeature`, picked
 * up by `autoLoadEntities`); the CLI names them itself, so that this layer imports no feature.
 */
export function dataSourceOptions(url: string, pool: PoolOptions = CLI_POOL, entities: DataSourceOptions['entities'] = []): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTransactionMode: 'each',
    uuidExtension: 'pgcrypto',
    synchronize: false,
    // TypeORM's query logger prints parameters, and parameters carry provider tokens: keep it off.
    logging: false,
    poolSize: pool.poolSize,
    extra: {
      // A request waits this long for a connection, then fails with a 503 instead of hanging.
      connectionTimeoutMillis: pool.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // Statements sent before the previous one's answer go out at once (pg's pipeline mode): a
      // transaction sends BEGIN with its first statement and COMMIT with its last (Sql.transaction).
      pipeline: true,
      // The server cancels a statement that runs longer (0: never); the client gives up a little later,
      // for a server that has stopped answering at all.
      statement_timeout: pool.statementTimeoutMs,
      query_timeout: pool.statementTimeoutMs ? pool.statementTimeoutMs + 1_000 : undefined,
    },
  };
}
