import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_USER_ID } from './support/spec-example.js';
import { type SpawnedService, spawnService } from './support/spawn-service.js';

const API_KEY = `shutdown-test-key-${randomBytes(8).toString('hex')}`;
const CONCURRENT = 200;

type Answer = { status?: number; body?: string; error?: NodeJS.ErrnoException };

/**
 * Whether the server listening on `port` has accepted every connection made to it and read every byte
 * sent on them (Linux: /proc/net/tcp), i.e. every request sent so far is in the process's hands.
 */
function serverHasReadEverything(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, , state, queues] = line.trim().split(/\s+/);
    if (!local?.endsWith(`:${hexPort}`)) continue;
    const received = Number.parseInt(queues.split(':')[1], 16);
    // LISTEN: connections waiting to be accepted; ESTABLISHED: bytes waiting to be read.
    if ((state === '0A' || state === '01') && received > 0) return false;
  }
  return true;
}

/** Whether a new TCP connection to the port is refused (the server has stopped listening). */
async function refusesConnections(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      done(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** One GET on a socket of its own; `written` resolves once the whole request has been sent. */
function get(port: number, path: string, headers: Record<string, string> = {}): { answer: Promise<Answer>; written: Promise<void> } {
  let written!: () => void;
  const sent = new Promise<void>((done) => (written = done));
  const answer = new Promise<Answer>((done) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode, body }));
      res.on('error', (error) => done({ status: res.statusCode, body, error }));
    });
    req.on('finish', written);
    req.on('error', (error) => {
      written();
      done({ error });
    });
  });
  return { answer, written: sent };
}

describe('graceful shutdown of the compiled service', () => {
  let service: SpawnedService | undefined;
  let port: number;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    service = await spawnService(
      'shutdown',
      {
        BOOTSTRAP_API_KEY: API_KEY,
        DEMO_DATA: 'true',
        LOG_LEVEL: 'info',
        // Room for the requests the PostgreSQL variant holds in the pool's queue and behind a lock.
        DB_CONNECT_TIMEOUT_MS: '30000',
        DB_STATEMENT_TIMEOUT_MS: '30000',
      },
      { dataDir: true },
    );
    ({ port, databaseUrl } = service);
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
  });

  it('writes its start-up lines and a summary at once, and request lines while it runs, not only at exit', async () => {
    const output = service!.output;
    expect(output()).toContain(`Listening on http://127.0.0.1:${port}`);
    expect(output()).toMatch(
      new RegExp(`Ready: API http://127\\.0\\.0\\.1:${port}/api/v1, docs http://127\\.0\\.0\\.1:${port}/docs; .+; an active admin key exists`),
    );
    expect(output()).toContain(databaseUrl ? 'PostgreSQL at DATABASE_URL' : `embedded PostgreSQL, data in ${join(service!.workDir, 'data')}`);
    const id = `log-line-${randomBytes(6).toString('hex')}`;
    expect((await get(port, '/health/live', { 'X-Request-Id': id }).answer).status).toBe(200);
    // Buffered lines are written within a second; this waits far longer, for a slow machine.
    for (let waited = 0; !output().includes(id) && waited < 15_000; waited += 100) await pause(100);
    expect(output()).toContain(id);
    expect(service!.child.exitCode).toBeNull();
  });

  it(`answers all of ${CONCURRENT} requests in flight at SIGTERM with 200, logs that it shut down and exits with 0; then refuses connections`, async () => {
    // On PostgreSQL the requests are held in flight by a lock on their table until the server has begun
    // to shut down (the embedded database takes one connection, the service's; there its own pace suffices).
    let hold: pg.Client | undefined;
    if (databaseUrl) {
      hold = new pg.Client({ connectionString: databaseUrl });
      await hold.connect();
      await hold.query('BEGIN');
      await hold.query('LOCK TABLE connections IN ACCESS EXCLUSIVE MODE');
    }
    try {
      const requests = Array.from({ length: CONCURRENT }, () => get(port, `/api/v1/users/${SPEC_USER_ID}/connections`, { 'X-API-Key': API_KEY }));
      let answered = 0;
      for (const r of requests) void r.answer.then(() => (answered += 1));
      // In flight: every request has been sent, and the server has accepted and read every one of them.
      await Promise.all(requests.map((r) => r.written));
      if (existsSync('/proc/net/tcp')) {
        while (!serverHasReadEverything(port)) await pause(2);
      } else {
        await Promise.race(requests.map((r) => r.answer));
      }
      if (hold) {
        const waiting = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        while ((await hold.query<{ n: number }>(waiting)).rows[0].n === 0) await pause(5);
      }
      const answeredBeforeSigterm = answered;
      service!.child.kill('SIGTERM');
      if (hold) {
        // The server has stopped listening while the requests still wait: only now may they go on.
        while (!(await refusesConnections(port))) await pause(5);
        expect(answered).toBe(0);
        await hold.query('COMMIT');
      }

      const answers = await Promise.all(requests.map((r) => r.answer));
      const code = await service!.exited;

      // Some requests were still being answered when the signal came, or this test proves nothing.
      expect(answeredBeforeSigterm).toBeLessThan(CONCURRENT);
      const failures = answers.filter((a) => a.status !== 200).map((a) => a.error?.code ?? `${a.status} ${a.body}`);
      expect(failures, `requests not answered with 200 (of ${CONCURRENT})`).toEqual([]);
      for (const a of answers) expect(JSON.parse(a.body!).map((c: { provider: string }) => c.provider)).toEqual(['garmin', 'strava', 'polar']);
      expect(code, service!.output()).toBe(0);
      expect(service!.output()).toMatch(/SIGTERM received, shutting down/);

      const after = await get(port, '/health/live').answer;
      expect(after.error?.code).toBe('ECONNREFUSED');
    } finally {
      await hold?.end();
    }
  });
});

describe('the shutdown deadline', () => {
  let service: SpawnedService | undefined;
  let receiver: http.Server | undefined;

  afterAll(async () => {
    receiver?.closeAllConnections();
    receiver?.close();
    await service?.stop();
  });

  it('exits with 1 after SHUTDOWN_TIMEOUT_MS, naming what held it, when a webhook delivery under way outlasts it', async () => {
    // The first describe's build (incremental: no second compile). A receiver that takes each delivery and never answers: the sender waits for it up to WEBHOOK_TIMEOUT_MS (2 minutes).
    let arrived!: () => void;
    const delivered = new Promise<void>((done) => (arrived = done));
    receiver = http.createServer((request) => {
      request.resume();
      arrived();
    });
    await new Promise<void>((done) => receiver!.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
    service = await spawnService('shutdown', {
      BOOTSTRAP_API_KEY: API_KEY,
      DEMO_DATA: 'false',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '1000',
      WEBHOOK_TIMEOUT_MS: '120000',
      WEBHOOK_ALLOW_INSECURE_URLS: 'true',
    }, { dataDir: true });
    const post = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${service!.port}${path}`, {
        method: 'POST',
        headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = await post('/api/v1/webhook-endpoints', { url });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await post(`/api/v1/webhook-endpoints/${id}/test`, {})).status).toBe(202);
    await delivered;

    service.child.kill('SIGTERM');
    // Without the deadline the service would wait for the receiver for two minutes, past this test's timeout.
    const code = await service.exited;
    expect(code).toBe(1);
    expect(service.output()).toMatch(/SIGTERM received, shutting down/);
    expect(service.output()).toMatch(
      /Shutdown did not finish within SHUTDOWN_TIMEOUT_MS \(1000 ms\) while closing the application \(requests, webhook deliveries and jobs under way\): exiting with 1/,
    );
  }, 60_000);
});
