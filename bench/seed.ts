import pg from 'pg';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';

const PROVIDERS = ['garmin', 'strava', 'polar'] as const;
const BATCH = 5_000;

/** The bench user with index i: deterministic, so a run can pick random users without reading them back. */
export function benchUserId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

/**
 * N users with three connections each (tokens encrypted as in production), in bulk SQL.
 * Skipped when the database already holds exactly this seed.
 */
export async function seed(databaseUrl: string, users: number, cipher: TokenCipher, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const [{ count }] = (await client.query(`SELECT count(*)::int AS count FROM users`)).rows;
    const [{ last }] = (await client.query(`SELECT count(*)::int AS last FROM users WHERE id = $1`, [benchUserId(users - 1)])).rows;
    if (count === users && last === 1) {
      log(`database already holds ${users} bench users; not seeding again`);
      return;
    }
    log(`seeding ${users} users with ${PROVIDERS.length} connections each...`);
    const started = Date.now();
    await client.query('TRUNCATE users, connections CASCADE');
    for (let from = 0; from < users; from += BATCH) {
      const to = Math.min(users, from + BATCH);
      const ids: string[] = [];
      const c = { user: [] as string[], provider: [] as string[], access: [] as string[], refresh: [] as string[], puid: [] as string[], synced: [] as (string | null)[] };
      for (let i = from; i < to; i++) {
        const id = benchUserId(i);
        ids.push(id);
        PROVIDERS.forEach((provider, p) => {
          c.user.push(id);
          c.provider.push(provider);
          c.access.push(cipher.encrypt(`access-${i}-${provider}`, tokenContext(id, provider, 'access_token')));
          c.refresh.push(cipher.encrypt(`refresh-${i}-${provider}`, tokenContext(id, provider, 'refresh_token')));
          c.puid.push(`${provider}-${i}`);
          c.synced.push(p === 2 ? null : new Date(Date.UTC(2024, 2, 1) + ((i * 7 + p) % 1000) * 60_000).toISOString());
        });
      }
      await client.query(`INSERT INTO users (id) SELECT unnest($1::uuid[])`, [ids]);
      await client.query(
        `INSERT INTO connections (user_id, provider, access_token, refresh_token, provider_user_id, scope, last_synced_at)
         SELECT u, p, a, r, pu, 'read', s::timestamptz
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(u, p, a, r, pu, s)`,
        [c.user, c.provider, c.access, c.refresh, c.puid, c.synced],
      );
    }
    await client.query('ANALYZE users; ANALYZE connections');
    log(`seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await client.end();
  }
}
