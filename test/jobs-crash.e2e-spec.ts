/**
 * Durable work survives a crash: the compiled service disconnects users' Garmin connections, and is
 * SIGKILLed while their deregistrations are in flight (held by a provider that does not answer) and
 * pending; a new process on the same database (PostgreSQL with DATABASE_URL, else the embedded one's
 * data directory) delivers every one of them, those that were in flight once their lease lapsed. On the
 * embedded database, or on PostgreSQL with DATABASE_URL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type SpawnedService, spawnService } from './support/spawn-service.js';
import { until } from './support/until.js';

const API_KEY = `jobs-crash-key-${randomBytes(8).toString('hex')}`;
const USERS = 12;
const CONCURRENCY = 3;
const PROVIDER_TIMEOUT_MS = 1_000;

/**
 * Garmin's deregistration endpoint, recording the bearer token of each call: while `holding`, it
 * answers nothing (the request stays open); otherwise 204.
 */
async function startGarmin() {
  const tokens: string[] = [];
  const answered = new Set<string>();
  const held: ServerResponse[] = [];
  const state = { holding: true };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.method !== 'DELETE' || req.url !== '/wellness-api/rest/user/registration') return void res.writeHead(404).end();
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    tokens.push(token);
    if (state.holding) return void held.push(res);
    answered.add(token);
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tokens,
    answered,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('jobs across a SIGKILL', () => {
  const services: SpawnedService[] = [];
  let garmin: Awaited<ReturnType<typeof startGarmin>> | undefined;

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await garmin?.close();
  });

  it('loses no deregistration: the pending ones and those in flight at the kill all reach the provider after a restart', { timeout: 180_000 }, async () => {
    garmin = await startGarmin();
    const env = {
      BOOTSTRAP_API_KEY: API_KEY,
      GARMIN_CLIENT_ID: 'garmin-client-id',
      GARMIN_CLIENT_SECRET: `garmin-secret-${randomBytes(8).toString('hex')}`,
      GARMIN_BASE_URL: garmin.baseUrl,
      PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
      JOBS_CONCURRENCY: String(CONCURRENCY),
      JOBS_POLL_INTERVAL_MS: '200',
      DEREGISTRATION_RETRY_DELAYS_SECONDS: '1',
      // Leases of 3 × PROVIDER_TIMEOUT_MS + 2 s = 5 s, so that those in flight at the kill are taken over soon.
      LEASE_MARGIN_SECONDS: '2',
    };
    const first = await spawnService('jobs-crash', env, { dataDir: true });
    services.push(first);
    const call = async (method: string, path: string, body?: object) => {
      const res = await fetch(`http://127.0.0.1:${first.port}${path}`, {
        method,
        headers: { 'x-api-key': API_KEY, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return res.status;
    };

    const tokens: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const userId = randomUUID();
      const token = `garmin-access-${randomBytes(12).toString('hex')}`;
      tokens.push(token);
      expect(await call('POST', '/api/v1/users', { id: userId })).toBe(201);
      expect(await call('PUT', `/api/v1/users/${userId}/connections/garmin`, { access_token: token, provider_user_id: `garmin-user-${i}` })).toBe(201);
      expect(await call('DELETE', `/api/v1/users/${userId}/connections/garmin`)).toBe(204);
    }
    // CONCURRENCY deregistrations are in flight at the provider, which holds them; the rest wait.
    await until('the first deregistrations to reach Garmin', () => garmin!.tokens.length >= CONCURRENCY, 30_000, 100);
    await first.kill();
    expect(garmin.answered.size).toBe(0);

    // A new process on the same data; the provider answers now.
    garmin.state.holding = false;
    const second = await spawnService('jobs-crash', env, { sameDataAs: first });
    services.push(second);
    // Those that were in flight run again once their lease (3 × PROVIDER_TIMEOUT_MS + LEASE_MARGIN_SECONDS) lapsed.
    await until('every deregistration to be answered', () => tokens.every((token) => garmin!.answered.has(token)), 120_000, 100);
    expect([...garmin.answered].sort()).toEqual([...tokens].sort());
    expect(second.output()).not.toContain(tokens[0]);
  });
});
