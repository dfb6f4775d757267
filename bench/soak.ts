/**
 * npm run soak -- [--minutes 5] [--users 10000] [--connections 16] [--window 30]
 *
 * Sustained mixed load on the compiled service against PostgreSQL: reads of the spec's endpoint and
 * of users, connection replacements (PUT, with fresh tokens), disconnects and re-links. Reports the
 * throughput and errors of each window and the service's RSS over time, and fails (exit 1) on any
 * error or 5xx, or when RSS keeps growing (last window more than 25% above the first settled one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { TokenCipher } from '../src/crypto/token-cipher.js';
import { benchUserId, seed } from './seed.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    users: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '16' },
    window: { type: 'string', default: '30' },
    database: { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wc_bench' },
  },
});
const SECONDS = Math.round(Number(args.minutes) * 60);
const USERS = Number(args.users);
const WINDOW = Number(args.window);
const TOKEN_KEY = Buffer.alloc(32, 7); // the bench's key, so the seeded database is shared with npm run bench
const API_KEY = `soak-${randomBytes(16).toString('hex')}`;
const PORT = 3803;
const PROVIDERS = ['garmin', 'strava', 'polar', 'suunto', 'whoop'];

const log = (line: string) => process.stdout.write(`${line}\n`);
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)];

const READ_HEADERS = { 'x-api-key': API_KEY };
const WRITE_HEADERS = { 'x-api-key': API_KEY, 'content-type': 'application/json' };

/** One request of the mix: 70% list, 10% user, 12% replace, 5% disconnect, 3% list of users. */
function nextRequest(): autocannon.Request {
  const user = benchUserId(Math.floor(Math.random() * USERS));
  const roll = Math.random();
  const read = (path: string, method = 'GET'): autocannon.Request => ({ method: method as 'GET', path, headers: READ_HEADERS });
  if (roll < 0.7) return read(`/api/v1/users/${user}/connections`);
  if (roll < 0.8) return read(`/api/v1/users/${user}`);
  if (roll < 0.92) {
    const body = JSON.stringify({
      access_token: `soak-access-${randomUUID()}`,
      refresh_token: `soak-refresh-${randomUUID()}`,
      token_expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      provider_user_id: randomUUID(),
      scope: 'read',
    });
    return { method: 'PUT', path: `/api/v1/users/${user}/connections/${pick(PROVIDERS)}`, headers: WRITE_HEADERS, body };
  }
  if (roll < 0.97) return read(`/api/v1/users/${user}/connections/${pick(PROVIDERS)}`, 'DELETE');
  return read('/api/v1/users?limit=50');
}

function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function main(): Promise<void> {
  const out = openSync(join(tmpdir(), 'soak-service.log'), 'w');
  const service: ChildProcess = spawn(process.execPath, ['--max-old-space-size=128', 'dist/src/main.js'], {
    env: {
      ...process.env,
      DATABASE_URL: args.database,
      TOKEN_ENCRYPTION_KEY: TOKEN_KEY.toString('base64'),
      BOOTSTRAP_API_KEY: API_KEY,
      HOST: '127.0.0.1',
      PORT: String(PORT),
      LOG_LEVEL: 'info',
      DEMO_DATA: 'false',
      RATE_LIMIT_PER_MINUTE: '1000000000',
    },
    stdio: ['ignore', out, out],
  });
  try {
    await waitFor(`http://127.0.0.1:${PORT}/health/ready`);
    await seed(args.database!, USERS, new TokenCipher(TOKEN_KEY), log);
    const pid = service.pid!;
    const windows: { second: number; requests: number; errors: number; status5xx: number; rssMb: number }[] = [];
    let current = { requests: 0, errors: 0, status5xx: 0 };
    const byStatus: Record<number, number> = {};
    const startRss = rssMb(pid);
    log(`soak: ${SECONDS} s, ${args.connections} connections, ${USERS} users; RSS at start ${startRss} MB`);

    // Without a callback, autocannon returns its instance: an EventEmitter that is also a promise of the result.
    const instance = autocannon({
      url: `http://127.0.0.1:${PORT}`,
      connections: Number(args.connections),
      duration: SECONDS,
      requests: [{ setupRequest: nextRequest }],
    }) as unknown as EventEmitter & Promise<autocannon.Result>;
    // 404 is an expected answer here (disconnecting a provider the user never had).
    instance.on('response', (_client: unknown, status: number) => {
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      current.requests += 1;
      if (status >= 500) current.status5xx += 1;
      if (status >= 500 || (status >= 400 && status !== 404)) current.errors += 1;
    });
    instance.on('reqError', () => (current.errors += 1));
    let second = 0;
    const ticker = setInterval(() => {
      second += WINDOW;
      const row = { second, ...current, rssMb: rssMb(pid) };
      windows.push(row);
      log(
        `${String(second).padStart(5)} s  ${(row.requests / WINDOW).toFixed(0).padStart(6)} req/s  errors ${row.errors}  5xx ${row.status5xx}  RSS ${row.rssMb} MB`,
      );
      current = { requests: 0, errors: 0, status5xx: 0 };
    }, WINDOW * 1000);
    const result = await instance;
    clearInterval(ticker);

    const endRss = rssMb(pid);
    const errors = windows.reduce((n, w) => n + w.errors, 0) + current.errors + result.errors + result.timeouts;
    const settled = windows.length > 1 ? windows[1].rssMb : startRss;
    const growth = (windows.at(-1)?.rssMb ?? endRss) / settled - 1;
    const ok = errors === 0 && growth <= 0.25;
    log(`requests ${result.requests.total}, by status ${JSON.stringify(byStatus)}, errors ${errors}`);
    log(`RSS: start ${startRss} MB, first settled window ${settled} MB, end ${endRss} MB (${(growth * 100).toFixed(0)}% growth)`);
    log(ok ? 'PASS no errors, RSS bounded' : 'FAIL');

    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
          settings: { seconds: SECONDS, users: USERS, connections: Number(args.connections), windowSeconds: WINDOW },
          totals: { requests: result.requests.total, byStatus, errors, latencyP99Ms: result.latency.p99 },
          rss: { startMb: startRss, settledMb: settled, endMb: endRss, growth },
          windows,
          ok,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${file}`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    service.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${(error as Error).message}\n`);
  process.exit(1);
});
