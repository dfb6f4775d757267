/**
 * npm run bench -- --scenario refresh [--connections-total 1000000] [--due 10000] [--provider-ms 50] [--concurrency 4]
 *
 * The background refresher's scenario: seeds PostgreSQL with N connections (two per user) of which
 * `due` lapse within REFRESH_AHEAD_SECONDS, starts a local fake provider that answers each refresh
 * after `provider-ms`, starts the compiled service with REFRESH_INTERVAL_SECONDS=1, and measures:
 * - how long the due set takes to refresh (from the service's first pass to none left due);
 * - what the refresher's scan costs: EXPLAIN (ANALYZE, BUFFERS) of its claim query's scan at 1M rows;
 * - the spec's endpoint's throughput while the refresher is busy, against the same service idle, with
 *   the service's CPU per list request and its share of a core in each phase (the fake provider runs
 *   in a process of its own, so that it takes no CPU from the load generator).
 * Writes bench/results/<date>-refresh.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchUser, cpuMicros, listLoad, resetDatabase, waitFor } from './support.js';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'refresh' },
    'connections-total': { type: 'string', default: '1000000' },
    due: { type: 'string', default: '10000' },
    'provider-ms': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '4' },
    'load-seconds': { type: 'string', default: '10' },
    database: { type: 'string', default: process.env.BENCH_REFRESH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wc_bench_refresh' },
  },
  // bench/run.ts's own options pass through it.
  strict: false,
});
const TOTAL = Number(args['connections-total']);
const DUE = Number(args.due);
const PROVIDER_MS = Number(args['provider-ms']);
const CONCURRENCY = Number(args.concurrency);
const LOAD_SECONDS = Number(args['load-seconds']);
const DATABASE_URL = String(args.database);
const USERS = Math.ceil(TOTAL / 2);
const TOKEN_KEY = Buffer.alloc(32, 9);
const API_KEY = `bench-${randomBytes(16).toString('hex')}`;
const PORT = 3811;
const PROVIDERS = ['garmin', 'whoop'] as const;

const log = (line: string) => process.stdout.write(`${line}\n`);
const userId = benchUser;

/** N connections in bulk SQL: the due ones with real sealed tokens, the rest lapsing in a day or more (never read). */
async function seed(client: pg.Client, cipher: TokenCipher): Promise<void> {
  const started = Date.now();
  await client.query(`INSERT INTO users (id) SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid FROM generate_series(0, $1 - 1) i`, [USERS]);
  await client.query(
    `INSERT INTO connections (user_id, provider, access_token, refresh_token, token_expires_at, provider_user_id, scope)
     SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i / 2), 12, '0'))::uuid, (ARRAY['garmin', 'whoop'])[i % 2 + 1],
            'not-read', 'not-read', now() + interval '1 day' + (i % 86400) * interval '1 second', 'p-' || i, 'read'
       FROM generate_series(0, $1 - 1) i`,
    [TOTAL],
  );
  // The due set: spread over the users, with tokens sealed as the service seals them.
  const step = Math.max(1, Math.floor(TOTAL / DUE));
  const rows = { user: [] as string[], provider: [] as string[], access: [] as string[], refresh: [] as string[] };
  for (let k = 0; k < DUE; k++) {
    const i = k * step;
    const user = userId(Math.floor(i / 2));
    const provider = PROVIDERS[i % 2];
    rows.user.push(user);
    rows.provider.push(provider);
    rows.access.push(cipher.encrypt(`access-${i}`, tokenContext(user, provider, 'access_token')));
    rows.refresh.push(cipher.encrypt(`refresh-${i}`, tokenContext(user, provider, 'refresh_token')));
  }
  await client.query(
    `UPDATE connections c SET access_token = t.a, refresh_token = t.r, token_expires_at = now() + interval '9 minutes'
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS t(u, p, a, r)
      WHERE c.user_id = t.u AND c.provider = t.p`,
    [rows.user, rows.provider, rows.access, rows.refresh],
  );
  await client.query('VACUUM ANALYZE users');
  await client.query('VACUUM ANALYZE connections');
  log(`seeded ${TOTAL} connections (${DUE} due) for ${USERS} users in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * A provider's token endpoint that answers every refresh after PROVIDER_MS, rotating the refresh
 * token: a process of its own, so that its work does not take CPU from the load generator (this
 * process) and skew the list's figures. GET /calls answers how many refreshes it has had.
 */
async function fakeProvider(): Promise<{ url: string; calls: () => Promise<number>; close: () => void }> {
  const script = `
    const { createServer } = require('node:http');
    const { randomBytes } = require('node:crypto');
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'GET' && req.url === '/calls') return res.end(String(calls));
        calls += 1;
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          access_token: randomBytes(16).toString('hex'), refresh_token: randomBytes(16).toString('hex'),
          token_type: 'bearer', expires_in: 3600, scope: 'offline' })), ${PROVIDER_MS});
      });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));
  const url = `http://127.0.0.1:${port}`;
  return { url, calls: async () => Number(await (await fetch(`${url}/calls`)).text()), close: () => child.kill() };
}

/** The list under load, and the service's CPU meanwhile: µs per list request, and in all. */
async function measuredListLoad(service: ChildProcess, seconds: number) {
  const before = cpuMicros(service.pid!);
  const load = await listLoad(PORT, API_KEY, USERS, seconds);
  const cpu = cpuMicros(service.pid!) - before;
  return { ...load, serviceCpuShare: Number((cpu / (seconds * 1e6)).toFixed(2)), serviceCpuMicrosPerRequest: Math.round(cpu / Math.max(1, load.requestsPerSecond * seconds)) };
}

async function dueCount(client: pg.Client): Promise<number> {
  const { rows } = await client.query(
    `SELECT count(*)::int AS n FROM connections WHERE status = 'active' AND refresh_token IS NOT NULL AND token_expires_at <= now() + interval '600 seconds'`,
  );
  return rows[0].n;
}


export async function main(): Promise<void> {
  await resetDatabase(DATABASE_URL);
  const provider = await fakeProvider();
  const base = {
    DATABASE_URL,
    TOKEN_ENCRYPTION_KEY: TOKEN_KEY.toString('base64'),
    BOOTSTRAP_API_KEY: API_KEY,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    DEMO_DATA: 'false',
    RATE_LIMIT_PER_MINUTE: '1000000000',
    REFRESH_AHEAD_SECONDS: '600',
    REFRESH_CONCURRENCY: String(CONCURRENCY),
    ...Object.fromEntries(PROVIDERS.flatMap((p) => [[`${p.toUpperCase()}_CLIENT_ID`, `${p}-id`], [`${p.toUpperCase()}_CLIENT_SECRET`, `${p}-secret`], [`${p.toUpperCase()}_BASE_URL`, provider.url]])),
  };
  const start = (interval: string): ChildProcess => {
    const out = openSync(join(tmpdir(), 'bench-refresh-service.log'), 'a');
    return spawn(process.execPath, ['--max-old-space-size=256', 'dist/src/main.js'], {
      env: { ...process.env, ...base, PORT: String(PORT), REFRESH_INTERVAL_SECONDS: interval },
      stdio: ['ignore', out, out],
    });
  };
  const client = new pg.Client({ connectionString: DATABASE_URL });
  // First start: the migrations only, with the refresher idle (a day between passes).
  let service = start('86400');
  try {
    await waitFor(`http://127.0.0.1:${PORT}/health/ready`);
    await client.connect();
    await seed(client, new TokenCipher(TOKEN_KEY));

    // The scan, as the claim statement runs it, on the seeded table.
    const { rows: plan } = await client.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
       SELECT id FROM connections
        WHERE status = 'active' AND refresh_token IS NOT NULL AND token_expires_at <= now() + make_interval(secs => 600)
          AND (refresh_retry_at IS NULL OR refresh_retry_at <= now()) AND (refresh_lease_until IS NULL OR refresh_lease_until < now())
          AND provider <> ALL('{polar,coros}'::text[])
        ORDER BY token_expires_at LIMIT ${CONCURRENCY} FOR UPDATE SKIP LOCKED`,
    );
    const top = plan[0]['QUERY PLAN'][0];
    const nodes = JSON.stringify(top.Plan);
    const scan = {
      executionMs: top['Execution Time'],
      planningMs: top['Planning Time'],
      usesRefreshIndex: nodes.includes('ix_connections_refresh_due'),
      sharedBuffers: (top.Plan['Shared Hit Blocks'] ?? 0) + (top.Plan['Shared Read Blocks'] ?? 0),
    };
    log(`scan: ${scan.executionMs.toFixed(3)} ms execution, ${scan.sharedBuffers} buffers, index ix_connections_refresh_due: ${scan.usesRefreshIndex}`);

    // Each phase after a warm-up of the list, so that the JIT's first work is in none of them.
    await listLoad(PORT, API_KEY, USERS, 5);
    const idleBefore = await measuredListLoad(service, LOAD_SECONDS);
    log(`list, refresher idle: ${idleBefore.requestsPerSecond} req/s, p99 ${idleBefore.p99} ms, service CPU ${idleBefore.serviceCpuMicrosPerRequest} µs/req, ${idleBefore.serviceCpuShare} of a core`);
    service.kill('SIGTERM');
    await new Promise((resolve) => service.once('exit', resolve));

    // Second start: the refresher on, every second.
    service = start('1');
    const startedAt = Date.now();
    await waitFor(`http://127.0.0.1:${PORT}/health/ready`);
    await listLoad(PORT, API_KEY, USERS, 5);
    const callsBefore = await provider.calls();
    const busy = await measuredListLoad(service, LOAD_SECONDS);
    const refreshesDuringLoad = (await provider.calls()) - callsBefore;
    log(`list, refresher busy: ${busy.requestsPerSecond} req/s, p99 ${busy.p99} ms, service CPU ${busy.serviceCpuMicrosPerRequest} µs/req, ${busy.serviceCpuShare} of a core (${refreshesDuringLoad} refreshes meanwhile)`);
    let left = await dueCount(client);
    while (left > 0 && Date.now() - startedAt < 30 * 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      left = await dueCount(client);
    }
    const seconds = (Date.now() - startedAt) / 1000;
    const calls = await provider.calls();
    const idleAfter = await measuredListLoad(service, LOAD_SECONDS);
    log(`due set of ${DUE} refreshed in ${seconds.toFixed(1)} s (${calls} provider calls, ${left} left), ${(DUE / seconds).toFixed(0)} refreshes/s`);
    log(`list, refresher idle again: ${idleAfter.requestsPerSecond} req/s, p99 ${idleAfter.p99} ms`);
    const { rows: attempts } = await client.query(`SELECT outcome, count(*)::int AS n FROM refresh_attempts GROUP BY outcome ORDER BY outcome`);

    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}-refresh.json`;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
          settings: { connections: TOTAL, due: DUE, providerMs: PROVIDER_MS, concurrency: CONCURRENCY, loadSeconds: LOAD_SECONDS },
          scan,
          refresh: { seconds, providerCalls: calls, left, refreshesPerSecond: DUE / seconds, attempts },
          list: { idleBefore, busy: { ...busy, refreshesDuringLoad }, idleAfter },
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${file}`);
  } finally {
    service.kill('SIGTERM');
    provider.close();
    await client.end().catch(() => undefined);
  }
}
