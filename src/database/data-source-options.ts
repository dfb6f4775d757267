import type { DataSourceOptions } from 'typeorm';
import { ApiKey } from '../auth/api-key.entity.js';
import { Connection } from '../connections/connection.entity.js';
import { User } from '../users/user.entity.js';
import { migrations } from './migrations/index.js';

export const entities = [User, Connection, ApiKey];

/** The one description of the database, shared by the application and the TypeORM CLI (ormconfig.ts). */
export function dataSourceOptions(url: string, poolSize: number): DataSourceOptions {
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
    poolSize,
    extra: { connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 },
  };
}
