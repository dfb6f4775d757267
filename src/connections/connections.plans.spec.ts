/**
 * The plans PostgreSQL makes for the change path's statements, on a fresh database whose tables were
 * never analyzed (autovacuum may be off, as on the embedded database; and a statement prepared on an
 * empty table keeps its generic plan until the table is analyzed). A change of one user's connection
 * must find it through the (user_id, provider) key whatever the statistics say: a plan that reads all
 * of a provider's connections instead costs one row read per connection of that provider, per change.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexesOf, plans as scans, statementOf as statementThrough, type Statement } from '../../test/support/plans.js';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import { User } from '../users/user.entity.js';
import { Connection } from './connection.entity.js';
import { ConnectionsRepository } from './connections.repository.js';

let module: RepositoryModule;
let repository: ConnectionsRepository;
let dataSource: DataSource;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [ConnectionsRepository], entities: [Connection] });
  repository = module.moduleRef.get(ConnectionsRepository);
  dataSource = module.dataSource;
});

afterAll(() => module?.close());

const statementOf = (run: () => Promise<unknown>, name?: string) => statementThrough(module.moduleRef, run, name);

/** The indexes the statement's custom and generic plans read. */
async function plans(statement: Statement): Promise<{ custom: string[]; generic: string[] }> {
  const { custom, generic } = await scans(dataSource, statement);
  return { custom: indexesOf(custom), generic: indexesOf(generic) };
}

/** The upsert the repository runs for a new connection of a new user's to `provider`. */
async function upsertStatement(provider: 'garmin' | 'strava'): Promise<Statement> {
  const userId = randomUUID();
  await dataSource.getRepository(User).insert({ id: userId });
  const connection = {
    userId,
    provider,
    accessToken: 'sealed-access',
    refreshToken: null,
    tokenExpiresAt: null,
    providerUserId: null,
    providerUsername: null,
    scope: null,
    status: 'active' as const,
    lastSyncedAt: null,
  };
  return statementOf(() => repository.upsert(connection), 'connections_upsert');
}

describe("the change path's plans", () => {
  it("the upsert finds the user's connection by (user_id, provider) on a table never analyzed, empty", async () => {
    const { custom, generic } = await plans(await upsertStatement('garmin'));
    for (const indexes of [custom, generic]) {
      expect(indexes).toContain('uq_connections_user_provider');
      expect(indexes).not.toContain('ix_connections_provider_user');
    }
  });

  it("a provider account's lookup still reads the provider account index, and the upsert does not, with thousands of connections", async () => {
    await dataSource.query(`
      WITH made AS (INSERT INTO users (id) SELECT gen_random_uuid() FROM generate_series(1, 3000) RETURNING id)
      INSERT INTO connections (user_id, provider, access_token, status, provider_user_id)
      SELECT id, 'strava', 'sealed', 'active', CASE WHEN random() < 0.5 THEN gen_random_uuid()::text END FROM made`);
    const lookup = await plans(await statementOf(() => repository.findByProviderUser('strava', 'athlete-1')));
    expect(lookup.custom).toContain('ix_connections_provider_user');
    expect(lookup.generic).toContain('ix_connections_provider_user');
    const upsert = await plans(await upsertStatement('strava'));
    for (const indexes of [upsert.custom, upsert.generic]) {
      expect(indexes).toContain('uq_connections_user_provider');
      expect(indexes).not.toContain('ix_connections_provider_user');
    }
  });
});
