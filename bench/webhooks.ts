/**
 * npm run bench -- --scenario webhooks [--rate 600] [--seconds 20] [--users 20000]
 *
 * The consumer webhooks' scenario: the compiled service on PostgreSQL with one webhook endpoint, a
 * local receiver (in this process, answering 200 at once), and a steady stream of connection changes
 * (HTTP PUTs at `rate` per second, each one a change of status, so each records one event in its
 * transaction). It reports:
 * - deliveries per second, over the stream and until the last delivery arrived;
 * - the time from change to delivery (the event's created_at, stamped in the change's transaction,
 *   to its arrival at the receiver): p50, p99, max;
 * - the spec's endpoint's throughput while the stream runs, against the same service without it.
 * Writes bench/results/<date>-webhooks.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { benchUser, listLoad, resetDatabase, waitFor } from './support.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '600' },
    seconds: { type: 'string', default: '20' },
    users: { type: 'string', default: '20000' },
    database: { type: 'string', default: process.env.BENCH_WEBHOOKS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wc_bench_webhooks' },
  },
  strict: false,
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const USERS = Number(args.users);
const DATABASE_URL = String(args.database);
const TOKEN_KEY = Buffer.alloc(32, 5);
const API_KEY = `bench-${randomBytes(16).toString('hex')}`;
const PORT = 3821;
const PROVIDERS = ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings', 'coros'];

const log = (line: string) => process.stdout.write(`${line}\n`);
const userId = benchUser;

/** The consumer's receiver: records when each event arrived and how long after it was made. */
async function receiver() {
  const lags: number[] = [];
  const ids = new Set<string>();
  let last = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const now = Date.now();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; created_at: string };
      if (!ids.has(event.id)) {
        ids.add(event.id);
        lags.push(now - Date.parse(event.created_at));
      }
      last = now;
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, lags, ids, last: () => last, close: () => server.close() };
}


/** PUTs at RATE per second: each request sets a connection to the other status than the last one did. */
function changeStream(seconds: number) {
  let k = 0;
  return autocannon({
    url: `http://127.0.0.1:${PORT}`,
    connections: 16,
    overallRate: RATE,
    duration: seconds,
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    requests: [
      {
        method: 'PUT',
        setupRequest: (request: object) => {
          const i = k++;
          const slot = Math.floor(i / 2);
          const user = userId(slot % USERS);
          const provider = PROVIDERS[Math.floor(slot / USERS) % PROVIDERS.length];
          const revoked = i % 2 === 1;
          return {
            ...request,
            path: `/api/v1/users/${user}/connections/${provider}`,
            body: JSON.stringify(revoked ? { access_token: 'x', status: 'revoked' } : { access_token: `access-${i}` }),
          };
        },
      },
    ],
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function main(): Promise<void> {
  await resetDatabase(DATABASE_URL);
  const sink = await receiver();
  const out = openSync(join(tmpdir(), 'bench-webhooks-service.log'), 'a');
  const service: ChildProcess = spawn(process.execPath, ['--max-old-space-size=256', 'dist/src/main.js'], {
    env: {
      ...process.env,
      DATABASE_URL,
      TOKEN_ENCRYPTION_KEY: TOKEN_KEY.toString('base64'),
      BOOTSTRAP_API_KEY: API_KEY,
      HOST: '127.0.0.1',
      PORT: String(PORT),
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      DEMO_DATA: 'false',
      RATE_LIMIT_PER_MINUTE: '1000000000',
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
    },
    stdio: ['ignore', out, out],
  });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await waitFor(`http://127.0.0.1:${PORT}/health/ready`);
    await client.connect();
    await client.query(`INSERT INTO users (id) SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid FROM generate_series(0, $1 - 1) i`, [USERS]);
    await client.query('VACUUM ANALYZE users');
    const created = await fetch(`http://127.0.0.1:${PORT}/api/v1/webhook-endpoints`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ url: sink.url }),
    });
    if (created.status !== 201) throw new Error(`endpoint not created: ${created.status} ${await created.text()}`);

    const idle = await listLoad(PORT, API_KEY, USERS, 10);
    log(`list, no webhook traffic: ${idle.requestsPerSecond} req/s, p99 ${idle.p99} ms`);

    const started = Date.now();
    const [stream, busy] = await Promise.all([changeStream(SECONDS), listLoad(PORT, API_KEY, USERS, SECONDS)]);
    const streamEnded = Date.now();
    const { rows: counted } = await client.query(`SELECT count(*)::int AS n FROM webhook_events`);
    const events = counted[0].n as number;
    while (sink.ids.size < events && Date.now() - streamEnded < 120_000) await new Promise((resolve) => setTimeout(resolve, 100));
    const drained = (sink.last() - started) / 1000;
    const lags = [...sink.lags].sort((a, b) => a - b);
    const duringStream = sink.lags.length;
    const result = {
      changes: { requested: stream.requests.total, perSecond: Math.round(stream.requests.average), non2xx: stream.non2xx + stream.errors },
      events,
      delivered: sink.ids.size,
      deliveriesPerSecond: Math.round(sink.ids.size / drained),
      secondsUntilLastDelivery: drained,
      lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) },
      list: { idle, duringStream: busy },
    };
    log(`changes: ${result.changes.perSecond}/s asked (${result.changes.non2xx} non-2xx), ${events} events, ${sink.ids.size} delivered (${duringStream} lags recorded)`);
    log(`deliveries: ${result.deliveriesPerSecond}/s until the last one (${drained.toFixed(1)} s); change to delivery p50 ${result.lagMs.p50} ms, p99 ${result.lagMs.p99} ms, max ${result.lagMs.max} ms`);
    log(`list during the stream: ${busy.requestsPerSecond} req/s, p99 ${busy.p99} ms (without it: ${idle.requestsPerSecond} req/s)`);

    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}-webhooks.json`;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
          settings: { rate: RATE, seconds: SECONDS, users: USERS },
          ...result,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${file}`);
  } finally {
    service.kill('SIGTERM');
    sink.close();
    await client.end().catch(() => undefined);
  }
}
