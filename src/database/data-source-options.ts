import pg from 'pg';
import type { DataSourceOptions } from 'typeorm';
import { ApiKey } from '../auth/api-key.entity.js';
import { Connection } from '../connections/connection.entity.js';
import { User } from '../users/user.entity.js';
import { migrations } from './migrations/index.js';

export const entities = [User, Connection, ApiKey];

export interface PoolOptions {
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

const CLI_POOL: PoolOptions = { poolSize: 1, connectTimeoutMs: 10_000, statementTimeoutMs: 0 };

const TIMESTAMP_OID = 1114;
const asText = (text: string) => text;

/**
 * pg's parsers, except that a `timestamp` (without time zone) is returned as the text PostgreSQL
 * wrote. The schema has no such column (every time is a timestamptz), so these values come only from
 * `… AT TIME ZONE 'UTC'`, written where a UTC time is wanted as text (see isoTimeFromUtcText): cheaper
 * than a Date made from text and formatted back to text on every row.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === TIMESTAMP_OID ? asText : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The one description of the database, shared by the application and the TypeORM CLI (ormconfig.ts). */
export function dataSourceOptions(url: string, pool: PoolOptions = CLI_POOL): DataSourceOptions {
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
      types,
      // The server cancels a statement that runs longer (0: never); the client gives up a little later,
      // for a server that has stopped answering at all.
      statement_timeout: pool.statementTimeoutMs,
      query_timeout: pool.statementTimeoutMs ? pool.statementTimeoutMs + 1_000 : undefined,
    },
  };
}
