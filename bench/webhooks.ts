/**
 * npm run bench -- --scenario webhooks [--rate 600] [--seconds 20] [--rounds 3] [--users 20000] [--pool 10]
 *
 * The consumer webhooks' scenario: the compiled service on PostgreSQL with one webhook endpoint, a
 * local receiver (a process of its own, answering 200 at once), and a steady stream of connection changes
 * (HTTP PUTs at `rate` per second, each one a change of status, so each records one event in its
 * transaction). It reports:
 * - deliveries per second, over the stream and until the last delivery arrived;
 * - the time from change to delivery (the event's created_at, stamped in the change's transaction,
 *   to its arrival at the receiver): p50, p99, max;
 * - the spec's endpoint's throughput while the stream runs, against the same stream with the endpoint
 *   disabled (nothing recorded, nothing sent) and against no stream: `rounds` alternating rounds of the
 *   three (the order reversed every other round, so that the host's drift falls on each alike), each
 *   compared within its round, and the medians.
 * Writes bench/results/<date>-webhooks.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuMicros, hostBusyShare, hostTicks, listLoad, median, postgresCpuMicros, resetDatabase, waitFor } from './support.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '600' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    /** The service's DB_POOL_SIZE (its default, 10, unless given). */
    pool: { type: 'string' },
    users: { type: 'string', default: '20000' },
    concurrency: { type: 'string' },
    'endpoint-concurrency': { type: 'string' },
    /** Writes a V8 CPU profile of the service (the whole run) to the system's temporary folder. */
    'cpu-prof': { type: 'boolean', default: false },
    database: { type: 'string', default: process.env.BENCH_WEBHOOKS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wc_bench_webhooks' },
  },
  strict: false,
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const USERS = Number(args.users);
const DATABASE_URL = String(args.database);
const TOKEN_KEY = Buffer.alloc(32, 5);
const API_KEY = `bench-${randomBytes(16).toString('hex')}`;
const PORT = 3821;

const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The consumer's receiver, in a process of its own (a real one is elsewhere, and this process is busy
 * generating load): answers 200 at once and records, per event id, how long after the event was made
 * it arrived; GET /stats answers {ids, lags, last}.
 */
async function receiver() {
  const script = `
    const { createServer } = require('node:http');
    const lags = []; const ids = new Set(); let last = 0;
    const server = createServer((req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        if (req.method === 'GET') return res.end(JSON.stringify({ ids: ids.size, lags, last }));
        const now = Date.now();
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!ids.has(event.id)) { ids.add(event.id); lags.push(now - Date.parse(event.created_at)); }
        last = now;
        res.writeHead(200).end();
      });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/hooks`,
    stats: async () => (await (await fetch(`${base}/stats`)).json()) as { ids: number; lags: number[]; last: number },
    pid: child.pid!,
    close: () => child.kill(),
  };
}

/**
 * PUTs at RATE per second for `seconds`, from a process of its own (bench/change-stream.ts), so that the
 * stream and the list's load generator do not share one thread. Each phase changes connections of its
 * own (to a provider of its own), created and revoked in turn: every request is a change of status.
 */
let phases = 0;
async function changeStream(seconds: number): Promise<{ requested: number; perSecond: number; non2xx: number; cpuMicros: number }> {
  const phase = phases++;
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/change-stream.ts', String(PORT), API_KEY, String(RATE), String(seconds), String(USERS), String(phase)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the change stream exited with ${code}`);
  return JSON.parse(output);
}

/** One stream of SECONDS: the changes, their deliveries until the last one arrived, and (with `list`) the list under load meanwhile. */
async function streamPhase(client: pg.Client, sink: Awaited<ReturnType<typeof receiver>>, list: boolean, servicePid: number) {
  const cpuBefore = cpuMicros(servicePid);
  const hostBefore = hostTicks();
  const postgresBefore = postgresCpuMicros();
  const receiverBefore = cpuMicros(sink.pid);
  const benchBefore = cpuMicros(process.pid);
  const { rows: before } = await client.query(`SELECT count(*)::int AS n FROM webhook_events`);
  const commitsBefore = await commits(client);
  const first = await sink.stats();
  const started = Date.now();
  const [stream, load] = await Promise.all([changeStream(SECONDS), list ? listLoad(PORT, API_KEY, USERS, SECONDS) : Promise.resolve(undefined)]);
  const streamEnded = Date.now();
  const hostAfter = hostTicks();
  const postgresDuring = postgresCpuMicros() - postgresBefore;
  const receiverDuring = cpuMicros(sink.pid) - receiverBefore;
  const benchDuring = cpuMicros(process.pid) - benchBefore;
  const { rows: after } = await client.query(`SELECT count(*)::int AS n FROM webhook_events`);
  const commitsDuring = (await commits(client)) - commitsBefore;
  const events = after[0].n - before[0].n;
  let stats = await sink.stats();
  while (stats.ids - first.ids < events && Date.now() - streamEnded < 180_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    stats = await sink.stats();
  }
  const drained = (Math.max(stats.last, streamEnded) - started) / 1000;
  const serviceCpuShare = Number(((cpuMicros(servicePid) - cpuBefore) / (drained * 1e6)).toFixed(2));
  const lags = stats.lags.slice(first.lags.length).sort((a, b) => a - b);
  const delivered = stats.ids - first.ids;
  const { cpuMicros: streamCpu, ...changes } = stream;
  const share = (micros: number) => Number((micros / ((streamEnded - started) * 1000)).toFixed(2));
  return {
    changes,
    events,
    delivered,
    deliveriesPerSecond: Math.round(delivered / drained),
    secondsUntilLastDelivery: drained,
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) },
    list: load,
    /** The service's CPU time over the phase, as a share of one core (Node runs the requests and the sender on one thread). */
    serviceCpuShare,
    /** PostgreSQL's commits in the bench's database over the stream (the list's reads included), per second. */
    commitsPerSecond: Math.round(commitsDuring / ((streamEnded - started) / 1000)),
    /** PostgreSQL's CPU time over the stream (all its processes on this host), as a share of one core. */
    postgresCpuShare: share(postgresDuring),
    /** The bench's own processes over the stream, each as a share of one core: they run on this host too, so what they take the service cannot have. */
    receiverCpuShare: share(receiverDuring),
    /** The load generators: the change stream's process and this one's (the list's autocannon). */
    loadCpuShare: share(streamCpu + benchDuring),
    /** The whole host's CPU over the stream (every process: load generators, receiver, PostgreSQL, service), as a share of all its cores. */
    hostBusyShare: hostBusyShare(hostBefore, hostAfter),
  };
}

/** The bench database's committed transactions so far (pg_stat_database, which lags a commit by at most its flush). */
async function commits(client: pg.Client): Promise<number> {
  await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
  const { rows } = await client.query(`SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()`);
  return Number(rows[0].n);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** The list under load for SECONDS with no stream. */
async function idlePhase() {
  const hostBefore = hostTicks();
  const list = await listLoad(PORT, API_KEY, USERS, SECONDS);
  return { ...list, hostBusyShare: hostBusyShare(hostBefore, hostTicks()) };
}

type StreamPhase = Awaited<ReturnType<typeof streamPhase>>;
interface Round {
  order: string[];
  idle: Awaited<ReturnType<typeof idlePhase>>;
  noEndpoint: StreamPhase;
  withList: StreamPhase;
  /** The list during the stream with the endpoint, as a share of the list during the same stream without it (this round). */
  webhooksKeep: number;
  /** The list during the stream with the endpoint, as a share of the list with no stream (this round). */
  streamKeeps: number;
}

export async function main(): Promise<void> {
  await resetDatabase(DATABASE_URL);
  const sink = await receiver();
  const out = openSync(join(tmpdir(), 'bench-webhooks-service.log'), 'a');
  const service: ChildProcess = spawn(process.execPath, [...(args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(tmpdir(), 'bench-webhooks-profiles')}`] : []), '--max-old-space-size=256', 'dist/src/main.js'], {
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
      ...(args.pool ? { DB_POOL_SIZE: String(args.pool) } : {}),
      ...(args.concurrency ? { WEBHOOK_CONCURRENCY: String(args.concurrency) } : {}),
      ...(args['endpoint-concurrency'] ? { WEBHOOK_ENDPOINT_CONCURRENCY: String(args['endpoint-concurrency']) } : {}),
    },
    stdio: ['ignore', out, out],
  });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await waitFor(`http://127.0.0.1:${PORT}/health/ready`);
    await client.connect();
    await client.query(`INSERT INTO users (id) SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid FROM generate_series(0, $1 - 1) i`, [USERS]);
    await client.query('VACUUM ANALYZE users');
    await listLoad(PORT, API_KEY, USERS, 5); // warm-up
    const created = await fetch(`http://127.0.0.1:${PORT}/api/v1/webhook-endpoints`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ url: sink.url }),
    });
    if (created.status !== 201) throw new Error(`endpoint not created: ${created.status} ${await created.text()}`);
    const endpointId = ((await created.json()) as { id: string }).id;
    /** Enabled, the endpoint takes every event; disabled, a change records nothing (the record statement still runs and finds no target). */
    const setEndpoint = async (enabled: boolean) => {
      const answer = await fetch(`http://127.0.0.1:${PORT}/api/v1/webhook-endpoints/${endpointId}`, {
        method: 'PATCH',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ enabled }),
      });
      if (answer.status !== 200) throw new Error(`endpoint not updated: ${answer.status} ${await answer.text()}`);
    };

    // A first stream of 5 s, not measured: the JIT's first work and the pools' first connections are in none of the phases.
    await changeStream(5);
    // The stream alone: what the deliveries achieve.
    const alone = await streamPhase(client, sink, false, service.pid!);
    log(`stream alone: changes ${alone.changes.perSecond}/s asked (${alone.changes.non2xx} non-2xx), ${alone.events} events, ${alone.delivered} delivered`);
    log(`  service CPU ${alone.serviceCpuShare} of a core, PostgreSQL CPU ${alone.postgresCpuShare} of a core, receiver ${alone.receiverCpuShare}, load generators ${alone.loadCpuShare}, host CPU busy ${alone.hostBusyShare}, ${alone.commitsPerSecond} commits/s; deliveries ${alone.deliveriesPerSecond}/s until the last one (${alone.secondsUntilLastDelivery.toFixed(1)} s); change to delivery p50 ${alone.lagMs.p50} ms, p99 ${alone.lagMs.p99} ms, max ${alone.lagMs.max} ms`);

    // What the spec's endpoint keeps meanwhile: alternating rounds of the list with no stream, with the
    // stream and the endpoint disabled (the stream's own cost), and with the stream and the endpoint.
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['idle', 'noEndpoint', 'withList'] : ['withList', 'noEndpoint', 'idle'];
      const round = { order } as Partial<Round> & { order: string[] };
      for (const phase of order) {
        if (phase === 'idle') {
          round.idle = await idlePhase();
        } else {
          await setEndpoint(phase === 'withList');
          round[phase as 'noEndpoint' | 'withList'] = await streamPhase(client, sink, true, service.pid!);
        }
      }
      const { idle, noEndpoint, withList } = round as Round;
      round.webhooksKeep = Number((withList.list!.requestsPerSecond / noEndpoint.list!.requestsPerSecond).toFixed(2));
      round.streamKeeps = Number((withList.list!.requestsPerSecond / idle.requestsPerSecond).toFixed(2));
      rounds.push(round as Round);
      log(`round ${r + 1} (${order.join(', ')}):`);
      log(`  list, no stream: ${idle.requestsPerSecond} req/s, p99 ${idle.p99} ms; host CPU busy ${idle.hostBusyShare}`);
      log(`  stream with the list, endpoint disabled: list ${noEndpoint.list!.requestsPerSecond} req/s, p99 ${noEndpoint.list!.p99} ms; changes ${noEndpoint.changes.perSecond}/s; service CPU ${noEndpoint.serviceCpuShare} of a core; PostgreSQL CPU ${noEndpoint.postgresCpuShare} of a core, receiver ${noEndpoint.receiverCpuShare}, load generators ${noEndpoint.loadCpuShare}; host CPU busy ${noEndpoint.hostBusyShare}; ${noEndpoint.commitsPerSecond} commits/s`);
      log(`  stream with the list and the endpoint: list ${withList.list!.requestsPerSecond} req/s, p99 ${withList.list!.p99} ms; changes ${withList.changes.perSecond}/s, ${withList.events} events, ${withList.delivered} delivered, ${withList.deliveriesPerSecond}/s, change to delivery p50 ${withList.lagMs.p50} ms, p99 ${withList.lagMs.p99} ms; service CPU ${withList.serviceCpuShare} of a core; PostgreSQL CPU ${withList.postgresCpuShare} of a core, receiver ${withList.receiverCpuShare}, load generators ${withList.loadCpuShare}; host CPU busy ${withList.hostBusyShare}; ${withList.commitsPerSecond} commits/s`);
      log(`  the list keeps ${Math.round(round.webhooksKeep * 100)}% with the endpoint against the same stream without it, ${Math.round(round.streamKeeps * 100)}% against no stream`);
    }
    const medians = {
      idleRequestsPerSecond: median(rounds.map((r) => r.idle.requestsPerSecond)),
      noEndpointRequestsPerSecond: median(rounds.map((r) => r.noEndpoint.list!.requestsPerSecond)),
      withListRequestsPerSecond: median(rounds.map((r) => r.withList.list!.requestsPerSecond)),
      webhooksKeep: median(rounds.map((r) => r.webhooksKeep)),
      streamKeeps: median(rounds.map((r) => r.streamKeeps)),
      withListDeliveriesPerSecond: median(rounds.map((r) => r.withList.deliveriesPerSecond)),
      withListLagP99Ms: median(rounds.map((r) => r.withList.lagMs.p99)),
    };
    log(
      `medians of ${ROUNDS} rounds: list ${medians.idleRequestsPerSecond} req/s with no stream, ${medians.noEndpointRequestsPerSecond} with the stream and the endpoint disabled, ${medians.withListRequestsPerSecond} with the stream and the endpoint (keeps ${Math.round(medians.webhooksKeep * 100)}% of the stream-without-endpoint figure, ${Math.round(medians.streamKeeps * 100)}% of no stream); deliveries meanwhile ${medians.withListDeliveriesPerSecond}/s, p99 ${medians.withListLagP99Ms} ms`,
    );
    const result = { alone, rounds, medians };
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}-webhooks.json`;
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
          settings: { rate: RATE, seconds: SECONDS, rounds: ROUNDS, users: USERS, pool: args.pool ?? 'default', concurrency: args.concurrency ?? 'default', endpointConcurrency: args['endpoint-concurrency'] ?? 'default' },
          ...result,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${file}`);
  } finally {
    const exited = new Promise((resolve) => service.once('exit', resolve));
    service.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    sink.close();
    await client.end().catch(() => undefined);
  }
}
