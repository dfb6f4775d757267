/**
 * npm run bench -- [--users 100000] [--rounds 3] [--duration 10] [--warmup 5] [--connections 32]
 * npm run bench -- --scenario refresh   (the background refresher's scenario: bench/refresh.ts)
 * npm run bench -- --scenario webhooks  (the consumer webhooks' scenario: bench/webhooks.ts)
 *
 * Seeds PostgreSQL with N users and three connections each (tokens encrypted as in production),
 * starts the compiled service with production settings and the floor server (bench/floor.ts) on the
 * same database, checks they answer alike, then drives each with autocannon: a warm-up, then
 * alternating rounds, each request for a random user. Prints requests/s, p50, p99 and peak RSS of
 * both, and writes the results and their chart (SVG) to bench/results/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { TokenCipher } from '../src/crypto/token-cipher.js';
import { writeChart } from './chart.js';
import { benchUserId, seed } from './seed.js';
import { cpuMicros, median } from './support.js';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'list' },
    users: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    database: { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wc_bench' },
  },
  // The other scenarios' own options (--due, --rate, …) pass through to them.
  strict: false,
});
const USERS = Number(args.users);
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const DATABASE_URL = String(args.database);
// A fixed key, so that a seeded database can be reused by later runs.
const TOKEN_KEY = Buffer.alloc(32, 7);
const API_KEY = `bench-${randomBytes(16).toString('hex')}`;
const SERVICE_PORT = 3801;
const FLOOR_PORT = 3802;

const log = (line: string) => process.stdout.write(`${line}\n`);

interface Round {
  target: 'service' | 'floor';
  round: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** The server process's CPU time (user + system) per request answered: what the code costs, whatever else the machine does. */
  cpuMicrosPerRequest: number;
  non2xx: number;
  errors: number;
  peakRssMb: number;
}

async function ensureDatabase(): Promise<void> {
  const url = new URL(DATABASE_URL);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (!rowCount) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  await admin.end();
}

function start(name: string, command: string, argv: string[], env: Record<string, string>): ChildProcess {
  const out = openSync(join(tmpdir(), `bench-${name}.log`), 'w');
  return spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
}

async function waitFor(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(url, { headers })).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}


function randomPath(): string {
  return `/api/v1/users/${benchUserId(Math.floor(Math.random() * USERS))}/connections`;
}

async function drive(port: number, pid: number, seconds: number): Promise<Omit<Round, 'target' | 'round'>> {
  let peak = rssMb(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
  const cpuBefore = cpuMicros(pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'x-api-key': API_KEY },
    requests: [{ method: 'GET', setupRequest: (request: object) => ({ ...request, path: randomPath() }) }],
  });
  clearInterval(sampler);
  const cpuPerRequest = (cpuMicros(pid) - cpuBefore) / Math.max(result.requests.total, 1);
  return {
    requestsPerSecond: result.requests.average,
    cpuMicrosPerRequest: Math.round(cpuPerRequest),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    peakRssMb: Math.round(peak),
  };
}

async function main(): Promise<void> {
  await ensureDatabase();
  const env = {
    DATABASE_URL,
    TOKEN_ENCRYPTION_KEY: TOKEN_KEY.toString('base64'),
    BOOTSTRAP_API_KEY: API_KEY,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    DEMO_DATA: 'false',
    // Raised, not turned off, so that the limiter's cost is in the measurement.
    RATE_LIMIT_PER_MINUTE: '1000000000',
  };
  // start:prod's command line: production settings.
  const service = start('service', process.execPath, ['--max-old-space-size=128', 'dist/src/main.js'], { ...env, PORT: String(SERVICE_PORT) });
  const floor = start('floor', process.execPath, ['--import', 'tsx', 'bench/floor.ts'], {
    DATABASE_URL,
    FLOOR_API_KEY: API_KEY,
    PORT: String(FLOOR_PORT),
  });
  try {
    // The service runs the migrations at start-up; seeding comes after.
    await waitFor(`http://127.0.0.1:${SERVICE_PORT}/health/ready`);
    await seed(DATABASE_URL, USERS, new TokenCipher(TOKEN_KEY), log);
    await waitFor(`http://127.0.0.1:${FLOOR_PORT}/`);

    const probe = randomPath();
    const [a, b] = await Promise.all(
      [SERVICE_PORT, FLOOR_PORT].map(async (port) =>
        (await fetch(`http://127.0.0.1:${port}${probe}`, { headers: { 'x-api-key': API_KEY } })).json(),
      ),
    );
    if (!isDeepStrictEqual(a, b) || (a as unknown[]).length !== 3) throw new Error(`service and floor disagree on ${probe}`);
    log(`service and floor answer ${probe} identically (3 connections)`);

    const targets = [
      { target: 'service' as const, port: SERVICE_PORT, pid: service.pid! },
      { target: 'floor' as const, port: FLOOR_PORT, pid: floor.pid! },
    ];
    for (const t of targets) {
      log(`warm-up ${t.target} ${WARMUP} s`);
      await drive(t.port, t.pid, WARMUP);
    }
    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of round % 2 ? targets : [...targets].reverse()) {
        const r = { target: t.target, round, ...(await drive(t.port, t.pid, DURATION)) };
        rounds.push(r);
        log(
          `round ${round} ${t.target.padEnd(7)} ${r.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  ` +
            `CPU ${r.cpuMicrosPerRequest} µs/req  ` +
            `RSS ${r.peakRssMb} MB  non-2xx ${r.non2xx}  errors ${r.errors}`,
        );
      }
    }

    const summary = Object.fromEntries(
      targets.map(({ target }) => {
        const mine = rounds.filter((r) => r.target === target);
        return [
          target,
          {
            requestsPerSecond: Math.round(median(mine.map((r) => r.requestsPerSecond))),
            p50: median(mine.map((r) => r.p50)),
            p99: median(mine.map((r) => r.p99)),
            cpuMicrosPerRequest: median(mine.map((r) => r.cpuMicrosPerRequest)),
            peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
            non2xx: mine.reduce((n, r) => n + r.non2xx, 0),
            errors: mine.reduce((n, r) => n + r.errors, 0),
          },
        ];
      }),
    );
    const throughputRatio = summary.service.requestsPerSecond / summary.floor.requestsPerSecond;
    const p99Ratio = summary.service.p99 / Math.max(summary.floor.p99, 1);
    const checks = {
      throughputAtLeast70Percent: throughputRatio >= 0.7,
      p99AtMostTwice: p99Ratio <= 2,
      rssBelow200Mb: summary.service.peakRssMb < 200,
      no_errors: summary.service.non2xx + summary.service.errors + summary.floor.non2xx + summary.floor.errors === 0,
    };

    log('');
    log(`| ${USERS} users, ${CONNECTIONS} connections, median of ${ROUNDS} rounds of ${DURATION} s | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB |`);
    log('|---|---|---|---|---|---|');
    for (const { target } of targets) {
      const s = summary[target];
      log(`| ${target} | ${s.requestsPerSecond} | ${s.p50} | ${s.p99} | ${s.cpuMicrosPerRequest} | ${s.peakRssMb} |`);
    }
    log(`| service / floor | ${(throughputRatio * 100).toFixed(0)}% | | ${p99Ratio.toFixed(2)}x | | |`);
    log('');
    for (const [name, ok] of Object.entries(checks)) log(`${ok ? 'PASS' : 'FAIL'} ${name}`);

    const pgVersion = await (async () => {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      const { rows } = await client.query('SHOW server_version');
      await client.end();
      return rows[0].server_version as string;
    })();
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}-${USERS}-users.json`;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, postgres: pgVersion },
          settings: { users: USERS, rounds: ROUNDS, durationSeconds: DURATION, warmupSeconds: WARMUP, connections: CONNECTIONS, logLevel: 'info' },
          rounds,
          summary,
          throughputRatio,
          p99Ratio,
          checks,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${file}, chart to ${writeChart(file)}`);
  } finally {
    service.kill('SIGTERM');
    floor.kill('SIGTERM');
  }
}

(args.scenario === 'refresh'
  ? import('./refresh.js').then((m) => m.main())
  : args.scenario === 'webhooks'
    ? import('./webhooks.js').then((m) => m.main())
    : main()
).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).message}\n`);
  process.exit(1);
});
