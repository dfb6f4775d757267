import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/support/test-app.js';
import { ENTITIES } from '../entities.js';
import { dataSourceOptions } from './data-source-options.js';

describe('the committed migrations', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await freshDatabase();
    dataSource = new DataSource(dataSourceOptions(database.url, undefined, ENTITIES));
    await dataSource.initialize();
    await dataSource.runMigrations({ transaction: 'each' });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('build exactly the schema the entities describe: migration:generate would find nothing to write', async () => {
    const { upQueries } = await dataSource.driver.createSchemaBuilder().log();
    expect(upQueries.map((query) => query.query)).toEqual([]);
  });

  it('can all be reverted, and applied again', async () => {
    const applied = (await dataSource.query(`SELECT count(*)::int AS n FROM migrations`))[0].n as number;
    expect(applied).toBeGreaterThan(0);
    for (let i = 0; i < applied; i++) await dataSource.undoLastMigration({ transaction: 'each' });
    expect((await dataSource.query(`SELECT count(*)::int AS n FROM migrations`))[0].n).toBe(0);
    await dataSource.runMigrations({ transaction: 'each' });
    expect((await dataSource.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
  });
});
