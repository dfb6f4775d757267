/**
 * Sql.transaction against a real, migrated database (embedded, or a fresh one on DATABASE_URL): the
 * pool pipelines, so BEGIN and COMMIT travel with the statements around them; what `last` sends is
 * committed with the work or, if any of it fails, rolled back with it.
 */
import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import { Sql } from './sql.js';

let module: RepositoryModule;
let sql: Sql;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [] });
  sql = module.moduleRef.get(Sql);
  await sql.rows('CREATE TABLE sql_spec (id integer PRIMARY KEY, note text)');
});

afterAll(() => module?.close());

const ids = async () => (await sql.rows<{ id: number }>('SELECT id FROM sql_spec ORDER BY id')).map((row) => row.id);
const insert = (client: PoolClient, id: number) => sql.on(client, 'INSERT INTO sql_spec (id) VALUES ($1) RETURNING id', [id]);

describe('transaction', () => {
  it('sends the COMMIT before the answers to the last statements, and commits them with the work', async () => {
    const sent: { text: string; lastAnswered: boolean }[] = [];
    let lastAnswered = false;
    const result = await sql.transaction(
      async (client) => {
        expect((client as PoolClient & { pipeline?: boolean }).pipeline).toBe(true);
        const query = client.query.bind(client);
        client.query = ((config: unknown, ...rest: unknown[]) => {
          sent.push({ text: typeof config === 'string' ? config : (config as { text: string }).text, lastAnswered });
          return (query as (...args: unknown[]) => unknown)(config, ...rest);
        }) as typeof client.query;
        return (await insert(client, 1)).length;
      },
      (client) => [insert(client, 2).then(() => void (lastAnswered = true)), insert(client, 3)],
    );
    expect(result).toBe(1);
    expect(await ids()).toEqual([1, 2, 3]);
    const commit = sent.find((statement) => statement.text === 'COMMIT');
    expect(commit).toEqual({ text: 'COMMIT', lastAnswered: false });
    await sql.rows('DELETE FROM sql_spec');
  });

  it('rolls the work back and throws the error when one of the last statements fails; the connection serves the next one', async () => {
    await sql.transaction(async (client) => insert(client, 10));
    const failure = sql.transaction(
      async (client) => insert(client, 11),
      (client) => [insert(client, 12), insert(client, 10), insert(client, 13)],
    );
    await expect(failure).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([10]);
    // The failed work's own statement, a JS error after it: rolled back too.
    await expect(
      sql.transaction(async (client) => {
        await insert(client, 14);
        throw new TypeError('a fault');
      }),
    ).rejects.toThrow('a fault');
    expect(await ids()).toEqual([10]);
    await sql.transaction(async (client) => insert(client, 15));
    expect(await ids()).toEqual([10, 15]);
    await sql.rows('DELETE FROM sql_spec');
  });
});
