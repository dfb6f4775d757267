import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RuntimeConfig } from '../src/app.module.js';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { ADMIN_KEY, freshPostgresDatabase, startTestApp, TOKEN_KEY, type TestApp } from './support/test-app.js';
import { type CutMode, FaultyProxy } from './support/tcp-proxy.js';

// Fault injection: the database goes away under load, a statement stalls, a write is cut off
// halfway. PostgreSQL only: the application reaches its own fresh database through a FaultyProxy,
// and the checks read that database directly, not through the proxy.

const onPostgres = Boolean(process.env.DATABASE_URL);
// These reach the database through a TCP proxy that cuts or stalls it; the embedded database has no TCP port.
const POSTGRES_ONLY = ' (PostgreSQL only: the faults are injected on its TCP connection)';
const report = (line: string) => process.env.FAULTS_REPORT && console.info(`[faults] ${line}`);

const PROVIDERS = ['garmin', 'strava', 'polar'] as const;
type Provider = (typeof PROVIDERS)[number];
/** A request that has not answered after this long has hung. */
const HANG_MS = 15_000;
/** Slack on top of a configured timeout for a 503 to arrive (scheduling, logging, a busy CI host). */
const SLACK_MS = 1_500;
const TOKEN_FORMAT = /^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const between = (min: number, max: number) => min + Math.random() * (max - min);

// ---------------------------------------------------------------------------------------------
// The application behind a proxy, on a database of its own
// ---------------------------------------------------------------------------------------------

interface Env {
  t: TestApp;
  proxy: FaultyProxy;
  /** The application's base URL. */
  base: string;
  /** The test's database, reached directly. */
  db: pg.Client;
  /** The URL of the test's database, not through the proxy. */
  directUrl: string;
  close(): Promise<void>;
}

let env: Env | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/**
 * Errors that nothing handled while a test ran (Vitest reports them too): outside a test runner,
 * the first one would have crashed the service.
 */
let uncaught: string[] = [];
const recordUncaught = (error: Error) => uncaught.push(`${error.name}: ${error.message}`);
beforeAll(() => {
  process.prependListener('uncaughtException', recordUncaught);
});
afterAll(() => {
  process.off('uncaughtException', recordUncaught);
});
beforeEach(() => {
  uncaught = [];
});

async function expectTheProcessSurvived(): Promise<void> {
  await sleep(100); // an error event of a connection dropped at the very end
  expect(uncaught, 'uncaught exceptions: each would have crashed the service').toEqual([]);
}

async function startProxiedApp(config: Partial<RuntimeConfig>): Promise<Env> {
  const database = await freshPostgresDatabase(process.env.DATABASE_URL!);
  const direct = new URL(database.url);
  const proxy = new FaultyProxy({ host: direct.hostname || '127.0.0.1', port: Number(direct.port || 5432) });
  const proxied = new URL(direct);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(await proxy.listen());
  const dropDatabase = database.drop;
  let t: TestApp;
  try {
    t = await startTestApp({ ...config, databaseUrl: proxied.toString() });
  } catch (error) {
    await proxy.close();
    await dropDatabase();
    throw error;
  }
  await t.app.listen(0, '127.0.0.1');
  const db = new pg.Client({ connectionString: direct.toString() });
  await db.connect();
  return {
    t,
    proxy,
    base: (await t.app.getUrl()).replace('[::1]', '127.0.0.1'),
    db,
    directUrl: direct.toString(),
    async close() {
      await proxy.restore();
      await t.close();
      await proxy.close();
      await db.end();
      await dropDatabase();
    },
  };
}

async function seedUsers(db: pg.Client, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await db.query(`INSERT INTO users (id) SELECT unnest($1::uuid[])`, [ids]);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Requests, with their timing
// ---------------------------------------------------------------------------------------------

interface Outcome {
  label: string;
  start: number;
  end: number;
  /** 0: no HTTP answer at all (hung past HANG_MS, or the connection failed). */
  status: number;
  body: unknown;
  retryAfter: string | null;
  error?: string;
}

const ms = (o: Outcome) => Math.round(o.end - o.start);
const brief = (o: Outcome) => `${o.label} -> ${o.status} in ${ms(o)} ms ${o.error ?? JSON.stringify(o.body)}`;

async function call(base: string, method: string, path: string, body?: unknown): Promise<Outcome> {
  const label = `${method} ${path}`;
  const start = performance.now();
  try {
    const res = await fetch(base + path, {
      method,
      headers: { 'x-api-key': ADMIN_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(HANG_MS),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // kept as text
    }
    return { label, start, end: performance.now(), status: res.status, body: parsed, retryAfter: res.headers.get('retry-after') };
  } catch (error) {
    return { label, start, end: performance.now(), status: 0, body: null, retryAfter: null, error: String(error) };
  }
}

const listConnections = (base: string, userId: string) => call(base, 'GET', `/api/v1/users/${userId}/connections`);
const putConnection = (base: string, userId: string, provider: Provider, marker: string) =>
  call(base, 'PUT', `/api/v1/users/${userId}/connections/${provider}`, {
    access_token: `at-${marker}`,
    refresh_token: `rt-${marker}`,
    scope: marker,
  });

const isOk = (o: Outcome) => o.status >= 200 && o.status < 300;

/** Every 503 is the filter's {"detail"} with a Retry-After. */
function badUnavailable(outcomes: Outcome[]): string[] {
  return outcomes
    .filter((o) => o.status === 503)
    .filter((o) => {
      const body = o.body as Record<string, unknown> | null;
      return !(body && Object.keys(body).length === 1 && typeof body.detail === 'string' && o.retryAfter !== null);
    })
    .map(brief);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]) : 0;
}

/** Backends of the test's database other than `db`'s own that are still running a statement or sit in a transaction. */
async function busyBackends(db: pg.Client): Promise<{ state: string; query: string }[]> {
  const { rows } = await db.query(
    `SELECT state, query FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`,
  );
  return rows;
}

async function settle(db: pg.Client): Promise<{ state: string; query: string }[]> {
  const giveUp = Date.now() + 5_000;
  for (;;) {
    const busy = await busyBackends(db);
    if (busy.length === 0 || Date.now() > giveUp) return busy;
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. The database becomes unreachable under load
// ---------------------------------------------------------------------------------------------

describe.skipIf(!onPostgres)(`faults: the database becomes unreachable under load${POSTGRES_ONLY}`, () => {
  const WORKERS = 16;
  const CONNECT_TIMEOUT_MS = 1_000;
  const STATEMENT_TIMEOUT_MS = 2_000;
  /** How long the client waits for a statement's answer (data-source-options: statement timeout + 1 s). */
  const QUERY_READ_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 1_000;

  async function outageUnderLoad(mode: CutMode, outageMs: number, boundMs: number): Promise<void> {
    env = await startProxiedApp({
      dbConnectTimeoutMs: CONNECT_TIMEOUT_MS,
      dbStatementTimeoutMs: STATEMENT_TIMEOUT_MS,
      dbPoolSize: 4,
    });
    const { base, proxy } = env;
    const users = await seedUsers(env.db, WORKERS);
    const outcomes: Outcome[][] = users.map(() => []);
    let stop = false;
    const workers = users.map(async (userId, w) => {
      for (let i = 0; !stop; i++) {
        const o =
          i % 2 === 0 ? await listConnections(base, userId) : await putConnection(base, userId, PROVIDERS[i % 3], `w${w}-${i}`);
        outcomes[w].push(o);
        if (!isOk(o)) await sleep(25); // a client that honours Retry-After would wait longer; this one only avoids a busy loop
      }
    });

    await sleep(800);
    const cutAt = performance.now();
    await proxy.cut(mode);
    await sleep(outageMs);
    const restoreAt = performance.now();
    await proxy.restore();
    // Every worker must see a success again, on its own, within a few seconds.
    const recoveredBy = (w: number) => outcomes[w].find((o) => o.start >= restoreAt && isOk(o))?.end;
    const giveUp = restoreAt + 10_000;
    while (users.some((_, w) => recoveredBy(w) === undefined) && performance.now() < giveUp) await sleep(50);
    stop = true;
    await Promise.all(workers);

    const all = outcomes.flat();
    const during = all.filter((o) => o.start >= cutAt + 50 && o.end <= restoreAt);
    const unavailable = all.filter((o) => o.status === 503);
    const recovery = users.map((_, w) => recoveredBy(w));
    const firstBack = Math.min(...recovery.map((at) => at ?? Infinity)) - restoreAt;
    const allBack = Math.max(...recovery.map((at) => at ?? Infinity)) - restoreAt;
    report(
      `${mode}: ${all.length} requests, ${unavailable.length} × 503 (p50 ${percentile(unavailable.map(ms), 50)} ms, ` +
        `max ${percentile(unavailable.map(ms), 100)} ms), ${during.length} during the outage; ` +
        `first success ${Math.round(firstBack)} ms after restore, every worker ${Math.round(allBack)} ms; ` +
        `proxy accepted ${proxy.accepted} connections`,
    );

    // None hung, none failed other than with a 503.
    expect(all.filter((o) => o.status === 0).map(brief)).toEqual([]);
    expect(all.filter((o) => ![200, 201, 503].includes(o.status)).map(brief)).toEqual([]);
    expect(badUnavailable(all)).toEqual([]);
    // While the database was away, every request failed, fast.
    expect(during.length).toBeGreaterThanOrEqual(WORKERS);
    expect(during.filter((o) => o.status !== 503).map(brief)).toEqual([]);
    expect(all.filter((o) => ms(o) > boundMs).map(brief)).toEqual([]);
    // Back without a restart.
    expect(recovery.filter((at) => at === undefined)).toEqual([]);
    expect(allBack).toBeLessThan(5_000);
    const after = await Promise.all(users.flatMap((userId) => [listConnections(base, userId), listConnections(base, userId)]));
    expect(after.filter((o) => o.status !== 200).map(brief)).toEqual([]);
    expect((await call(base, 'GET', '/health/ready')).status).toBe(200);
    await expectTheProcessSurvived();
  }

  it(
    'answers every request with a prompt 503 {"detail"} and Retry-After while connections are refused, and recovers by itself once they are accepted again',
    () => outageUnderLoad('refuse', 2_500, CONNECT_TIMEOUT_MS + SLACK_MS),
    40_000,
  );

  it(
    'answers every request within its timeouts with 503 {"detail"} while the database is black-holed, and recovers by itself once packets flow again',
    // A statement on a pooled connection that has stopped answering waits for the client's read timeout.
    () => outageUnderLoad('blackhole', 4_500, QUERY_READ_TIMEOUT_MS + SLACK_MS),
    40_000,
  );
});

// ---------------------------------------------------------------------------------------------
// 2. A statement stalls
// ---------------------------------------------------------------------------------------------

describe.skipIf(!onPostgres)(`faults: a statement stalls behind a lock${POSTGRES_ONLY}`, () => {
  const STATEMENT_TIMEOUT_MS = 500;
  const CONNECT_TIMEOUT_MS = 3_000;
  const config = { dbStatementTimeoutMs: STATEMENT_TIMEOUT_MS, dbConnectTimeoutMs: CONNECT_TIMEOUT_MS, dbPoolSize: 2 };

  async function lockingClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: env!.directUrl });
    await client.connect();
    return client;
  }

  it('answers the stalled request 503 once the statement timeout fires, and answers every request queued behind it (200 or 503, none lost)', async () => {
    env = await startProxiedApp(config);
    const { base, db } = env;
    const [userId] = await seedUsers(db, 1);
    expect((await putConnection(base, userId, 'garmin', 'before')).status).toBe(201);

    const locker = await lockingClient();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE connections IN ACCESS EXCLUSIVE MODE');
      const lockedAt = performance.now();
      const stalled = listConnections(base, userId);
      await sleep(50);
      const queued = Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? listConnections(base, userId) : putConnection(base, userId, 'strava', `queued-${i}`),
      );
      await sleep(1_300);
      await locker.query('COMMIT');
      const releasedAt = performance.now();
      const first = await stalled;
      const rest = await Promise.all(queued);
      const all = [first, ...rest];
      report(
        `stall: first ${first.status} in ${ms(first)} ms; queued: ${rest.map((o) => `${o.status}/${ms(o)}ms`).join(' ')}; ` +
          `lock held ${Math.round(releasedAt - lockedAt)} ms`,
      );

      expect(first.status, brief(first)).toBe(503);
      expect(ms(first)).toBeLessThan(STATEMENT_TIMEOUT_MS + SLACK_MS);
      expect(all.filter((o) => ![200, 201, 503].includes(o.status)).map(brief)).toEqual([]);
      expect(badUnavailable(all)).toEqual([]);
      // Nothing waited longer than a pool wait plus a statement.
      expect(all.filter((o) => ms(o) > CONNECT_TIMEOUT_MS + STATEMENT_TIMEOUT_MS + SLACK_MS).map(brief)).toEqual([]);
      // A request answered after the lock went away did not fail because of it.
      expect(all.filter((o) => o.start >= releasedAt && !isOk(o)).map(brief)).toEqual([]);
      // The pool is whole again: no connection was lost or left in a transaction.
      const after = await Promise.all(Array.from({ length: 8 }, () => listConnections(base, userId)));
      expect(after.filter((o) => o.status !== 200).map(brief)).toEqual([]);
      expect(await settle(db)).toEqual([]);
      await expectTheProcessSurvived();
    } finally {
      await locker.end();
    }
  });

  it('a write cancelled by the statement timeout (PUT, DELETE connection, DELETE user) answers 503 and leaves nothing behind, while other users are served', async () => {
    env = await startProxiedApp(config);
    const { base, db } = env;
    const [userId, otherId] = await seedUsers(db, 2);
    expect((await putConnection(base, userId, 'garmin', 'kept')).status).toBe(201);
    expect((await putConnection(base, otherId, 'garmin', 'other')).status).toBe(201);

    const locker = await lockingClient();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT id FROM connections WHERE user_id = $1 AND provider = 'garmin' FOR UPDATE`, [userId]);
      const writes = [
        putConnection(base, userId, 'garmin', 'lost'),
        call(base, 'DELETE', `/api/v1/users/${userId}/connections/garmin`),
        call(base, 'DELETE', `/api/v1/users/${userId}`),
      ];
      const others = Array.from({ length: 10 }, () => listConnections(base, otherId));
      const blocked = await Promise.all(writes);
      const served = await Promise.all(others);
      await locker.query('COMMIT');
      report(`row lock: ${blocked.map((o) => `${o.label.split(' ')[0]} ${o.status}/${ms(o)}ms`).join(', ')}`);

      expect(blocked.map((o) => o.status)).toEqual([503, 503, 503]);
      expect(badUnavailable(blocked)).toEqual([]);
      expect(blocked.filter((o) => ms(o) > CONNECT_TIMEOUT_MS + STATEMENT_TIMEOUT_MS + SLACK_MS).map(brief)).toEqual([]);
      expect(served.filter((o) => o.status !== 200).map(brief)).toEqual([]);
      // The cancelled statements left the user, the connection, its scope and its tokens as they were.
      const { rows } = await db.query(
        `SELECT u.id AS user_id, c.status, c.scope, c.access_token IS NOT NULL AS has_token
           FROM users u LEFT JOIN connections c ON c.user_id = u.id WHERE u.id = $1`,
        [userId],
      );
      expect(rows).toEqual([{ user_id: userId, status: 'active', scope: 'kept', has_token: true }]);
      expect(await settle(db)).toEqual([]);
      await expectTheProcessSurvived();
    } finally {
      await locker.end();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Writes cut off halfway
// ---------------------------------------------------------------------------------------------

/** What the database holds for one user, as far as these writes can change it. */
interface World {
  exists: boolean;
  /** provider → `<status>:<scope>` */
  connections: Partial<Record<Provider, string>>;
}

type Write =
  | { kind: 'create' }
  | { kind: 'put'; provider: Provider; marker: string }
  | { kind: 'disconnect'; provider: Provider }
  | { kind: 'delete' };

interface Logged {
  write: Write;
  outcome: Outcome;
}

/** The answer a write gets in `world`, and the world after it. */
function apply(world: World, write: Write): { status: number; next: World } {
  switch (write.kind) {
    case 'create':
      return world.exists ? { status: 409, next: world } : { status: 201, next: { exists: true, connections: {} } };
    case 'delete':
      return world.exists ? { status: 204, next: { exists: false, connections: {} } } : { status: 404, next: world };
    case 'put':
      if (!world.exists) return { status: 404, next: world };
      return {
        status: world.connections[write.provider] ? 200 : 201,
        next: { exists: true, connections: { ...world.connections, [write.provider]: `active:${write.marker}` } },
      };
    case 'disconnect': {
      const current = world.connections[write.provider];
      if (!world.exists || !current) return { status: 404, next: world };
      const scope = current.slice(current.indexOf(':') + 1);
      return { status: 204, next: { exists: true, connections: { ...world.connections, [write.provider]: `revoked:${scope}` } } };
    }
  }
}

const key = (world: World) =>
  JSON.stringify([world.exists, PROVIDERS.map((provider) => world.connections[provider] ?? null)]);

/**
 * The worlds the user's writes, in order, can have left: an answered write happened exactly as it
 * said (a world where it would have answered otherwise is dropped); a 503 may or may not have happened.
 */
function possibleWorlds(log: Logged[]): World[] {
  let worlds = new Map<string, World>([[key({ exists: true, connections: {} }), { exists: true, connections: {} }]]);
  for (const { write, outcome } of log) {
    const next = new Map<string, World>();
    for (const world of worlds.values()) {
      const { status, next: after } = apply(world, write);
      if (outcome.status === 503) {
        next.set(key(world), world);
        next.set(key(after), after);
      } else if (outcome.status === status) {
        next.set(key(after), after);
      }
    }
    worlds = next;
  }
  return [...worlds.values()];
}

describe.skipIf(!onPostgres)(`faults: writes cut off halfway${POSTGRES_ONLY}`, () => {
  const WORKERS = 12;
  const USERS_PER_WORKER = 3;

  it('leaves no write half-done, and every write that answered 2xx is in the database', async () => {
    env = await startProxiedApp({ dbConnectTimeoutMs: 1_000, dbStatementTimeoutMs: 2_000, dbPoolSize: 5 });
    const { base, db, proxy } = env;
    const users = await seedUsers(db, WORKERS * USERS_PER_WORKER);
    const logs = new Map<string, Logged[]>(users.map((id) => [id, []]));
    let stop = false;
    let sequence = 0;

    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      const mine = users.slice(w * USERS_PER_WORKER, (w + 1) * USERS_PER_WORKER);
      while (!stop) {
        const userId = mine[Math.floor(Math.random() * mine.length)];
        const provider = PROVIDERS[Math.floor(Math.random() * PROVIDERS.length)];
        const roll = Math.random();
        const write: Write =
          roll < 0.5
            ? { kind: 'put', provider, marker: `m${++sequence}` }
            : roll < 0.75
              ? { kind: 'disconnect', provider }
              : roll < 0.87
                ? { kind: 'delete' }
                : { kind: 'create' };
        const path = `/api/v1/users/${userId}`;
        const outcome =
          write.kind === 'put'
            ? await putConnection(base, userId, write.provider, write.marker)
            : write.kind === 'disconnect'
              ? await call(base, 'DELETE', `${path}/connections/${write.provider}`)
              : write.kind === 'delete'
                ? await call(base, 'DELETE', path)
                : await call(base, 'POST', '/api/v1/users', { id: userId });
        logs.get(userId)!.push({ write, outcome });
        if (outcome.status === 503) await sleep(20);
      }
    });

    // Cut the database off at random moments, for random short spells, while the writes run.
    let cuts = 0;
    const chaosUntil = performance.now() + 5_000;
    while (performance.now() < chaosUntil) {
      await sleep(between(100, 400));
      await proxy.cut('refuse');
      cuts++;
      await sleep(between(100, 300));
      await proxy.restore();
    }
    await sleep(1_000); // the database stays back: writes go through again
    stop = true;
    await Promise.all(workers);
    expect(await settle(db)).toEqual([]);

    const all = [...logs.values()].flat().map((l) => l.outcome);
    const count = (test: (o: Outcome) => boolean) => all.filter(test).length;
    report(
      `interrupted writes: ${all.length} writes, ${cuts} cuts, ${count(isOk)} × 2xx, ${count((o) => o.status === 503)} × 503, ` +
        `${count((o) => o.status === 404 || o.status === 409)} × 404/409; max 503 ${percentile(
          all.filter((o) => o.status === 503).map(ms),
          100,
        )} ms`,
    );
    expect(all.filter((o) => o.status === 0 || o.status === 500 || ![200, 201, 204, 404, 409, 503].includes(o.status)).map(brief)).toEqual([]);
    expect(badUnavailable(all)).toEqual([]);
    // The faults did happen, and writes did get through.
    expect(count((o) => o.status === 503)).toBeGreaterThan(0);
    expect(count(isOk)).toBeGreaterThan(100);

    // The database's own invariants, read directly.
    const orphans = await db.query(`SELECT c.id FROM connections c LEFT JOIN users u ON u.id = c.user_id WHERE u.id IS NULL`);
    expect(orphans.rows).toEqual([]);
    const duplicates = await db.query(
      `SELECT user_id, provider, count(*)::int AS n FROM connections GROUP BY user_id, provider HAVING count(*) > 1`,
    );
    expect(duplicates.rows).toEqual([]);
    const revokedWithTokens = await db.query(
      `SELECT id FROM connections WHERE status = 'revoked' AND (access_token IS NOT NULL OR refresh_token IS NOT NULL)`,
    );
    expect(revokedWithTokens.rows).toEqual([]);

    const { rows } = await db.query<{
      user_id: string;
      provider: Provider | null;
      status: string | null;
      scope: string | null;
      access_token: string | null;
      refresh_token: string | null;
    }>(
      `SELECT u.id AS user_id, c.provider, c.status, c.scope, c.access_token, c.refresh_token
         FROM users u LEFT JOIN connections c ON c.user_id = u.id WHERE u.id = ANY($1::uuid[])`,
      [users],
    );
    // Every token is sealed, and sealed for its own row: its plaintext is the one written with the row's scope.
    const cipher = new TokenCipher(TOKEN_KEY);
    const badTokens: string[] = [];
    for (const row of rows) {
      if (!row.provider) continue;
      for (const [field, value, prefix] of [
        ['access_token', row.access_token, 'at'],
        ['refresh_token', row.refresh_token, 'rt'],
      ] as const) {
        if (row.status === 'revoked') continue;
        if (value === null || !TOKEN_FORMAT.test(value)) {
          badTokens.push(`${row.user_id}/${row.provider}/${field}: ${value === null ? 'missing' : 'not v1.<keyid>.<nonce>.<ct>.<tag>'}`);
          continue;
        }
        const plain = cipher.decrypt(value, tokenContext(row.user_id, row.provider, field));
        if (plain !== `${prefix}-${row.scope}`) badTokens.push(`${row.user_id}/${row.provider}/${field}: written with another scope`);
      }
    }
    expect(badTokens).toEqual([]);

    // Each user's state is one that their writes, in order, can have left.
    const actual = new Map<string, World>(users.map((id) => [id, { exists: false, connections: {} }]));
    for (const row of rows) {
      const world = actual.get(row.user_id)!;
      world.exists = true;
      if (row.provider) world.connections[row.provider] = `${row.status}:${row.scope}`;
    }
    const unexplained: string[] = [];
    for (const userId of users) {
      const log = logs.get(userId)!;
      const worlds = possibleWorlds(log);
      if (!worlds.some((world) => key(world) === key(actual.get(userId)!))) {
        unexplained.push(
          `${userId}: database ${key(actual.get(userId)!)}; possible ${worlds.map(key).join(' | ') || 'none'}; ` +
            `writes: ${log.map((l) => `${JSON.stringify(l.write)}=${l.outcome.status}`).join(', ')}`,
        );
      }
    }
    expect(unexplained).toEqual([]);
    await expectTheProcessSurvived();
  }, 40_000);
});
