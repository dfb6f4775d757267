/**
 * What the connect-flow tests share: the service listening on a real port (PUBLIC_URL), the fake
 * providers it reaches through P_BASE_URL, browsers, the API calls of the consumer's backend, and
 * the secrets every one of them saw, to check that none leaks where it must not.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { expect } from 'vitest';
import { type BackgroundConfig, loadBackgroundConfig } from '../../src/config/background.config.js';
import { loadWebhooksConfig, type WebhooksConfig } from '../../src/config/webhooks.config.js';
import { type ConnectConfig, loadConnectConfig } from '../../src/config/connect.config.js';
import { loadProvidersConfig } from '../../src/config/providers.config.js';
import { CONNECTION_EVENTS, type ConnectionEvent } from '../../src/connections/connection.events.js';
import { type Provider, PROVIDERS } from '../../src/connections/providers.js';
import { TokenCipher, tokenContext } from '../../src/crypto/token-cipher.js';
import { JobsService } from '../../src/jobs/jobs.service.js';
import { Browser, type Visit } from './browser.js';
import { FAKE_ACCOUNTS, type FakeClient, type FakeProviders, GARMIN_PERMISSIONS, startFakeProviders } from './fake-providers.js';
import { createApp } from '../../src/app.js';
import type { RuntimeConfig } from '../../src/app.module.js';
import { ADMIN_KEY, startTestApp, type TestApp, testRuntimeConfig, TOKEN_KEY } from './test-app.js';

export const CLIENTS = Object.fromEntries(
  PROVIDERS.map((provider) => [provider, { clientId: `${provider}-client-id`, clientSecret: `${provider}-secret-${randomBytes(12).toString('hex')}` }]),
) as Record<Provider, FakeClient>;

export const PKCE_PROVIDERS: Provider[] = ['garmin', 'fitbit'];

const WHOOP_SCOPES = 'offline read:profile read:recovery read:cycles read:sleep read:workout read:body_measurement';
const OURA_SCOPES = 'personal daily heartrate workout session spo2Daily';
const FITBIT_SCOPES = ['activity_and_fitness', 'health_metrics_and_measurements', 'sleep', 'profile']
  .map((scope) => `https://www.googleapis.com/auth/googlehealth.${scope}.readonly`)
  .join(' ');

/** The connection each provider's flow makes against the fake: the account it reports, and the scope granted. */
export const EXPECTED_CONNECTION: Record<Provider, { provider_user_id: string; provider_username: string | null; scope: string | null }> = {
  garmin: { provider_user_id: FAKE_ACCOUNTS.garmin.userId, provider_username: null, scope: GARMIN_PERMISSIONS.join(' ') },
  strava: { provider_user_id: String(FAKE_ACCOUNTS.strava.id), provider_username: FAKE_ACCOUNTS.strava.username, scope: 'read,activity:read_all' },
  polar: { provider_user_id: String(FAKE_ACCOUNTS.polar.xUserId), provider_username: null, scope: null },
  suunto: { provider_user_id: FAKE_ACCOUNTS.suunto.user, provider_username: FAKE_ACCOUNTS.suunto.user, scope: 'workout' },
  whoop: { provider_user_id: String(FAKE_ACCOUNTS.whoop.userId), provider_username: null, scope: WHOOP_SCOPES },
  oura: { provider_user_id: FAKE_ACCOUNTS.oura.id, provider_username: null, scope: OURA_SCOPES },
  fitbit: { provider_user_id: FAKE_ACCOUNTS.fitbit.healthUserId, provider_username: null, scope: FITBIT_SCOPES },
  withings: { provider_user_id: String(FAKE_ACCOUNTS.withings.userid), provider_username: null, scope: 'user.info,user.metrics,user.activity' },
  coros: { provider_user_id: FAKE_ACCOUNTS.coros.openId, provider_username: null, scope: null },
};

/** The query a return_url gets, and nothing else. */
export interface ReturnQuery {
  connect_session_id: string;
  status: 'connected' | 'error' | 'cancelled';
  /** Absent when the user went back to the app from the connect page (status cancelled). */
  provider?: string;
  connection_id?: string;
  error?: string;
}

export interface WorldOptions {
  /** The connect settings, over the defaults (PUBLIC_URL is always the listening address). */
  connect?: Partial<Omit<ConnectConfig, 'publicUrl'>>;
  /** The providers configured (default: all nine). */
  providers?: Provider[];
  providerTimeoutMs?: number;
  /** The return_url sessions are created with unless told otherwise (default RETURN_URL). */
  returnUrl?: string;
  /** The background settings, over the defaults (refresher, jobs worker, retry delays). */
  background?: Partial<BackgroundConfig>;
  /** More provider variables (P_WEBHOOK_TOKEN, STRAVA_WEBHOOK_VERIFY_TOKEN). */
  providerEnv?: Record<string, string>;
  /** Failed authentications (and lookups) per address and minute (default: the tests' 1,000,000). */
  authFailureLimitPerMinute?: number;
  /** The consumer webhooks' settings, over the defaults. */
  webhooks?: Partial<WebhooksConfig>;
}

export interface ConnectWorld {
  t: TestApp;
  fake: FakeProviders;
  publicUrl: string;
  /** The return_url sessions are created with unless told otherwise. */
  returnUrl: string;
  /** connection.created events, as emitted. */
  created: ConnectionEvent[];
  /** A browser of its own, each with its own jar. */
  browser(): Browser;
  /** A consumer's API call (admin key unless `key` is given); recorded for the leak check. */
  api(method: 'get' | 'post' | 'delete', path: string, body?: object, key?: string): Promise<request.Response>;
  createUser(): Promise<string>;
  /** POST a session; expects 201. */
  createSession(userId: string, body?: Record<string, unknown>): Promise<{ id: string; url: string; token: string; expires_at: string; providers: string[] }>;
  /** Follows `url` (a link, or a flow's start) through the provider until the redirect that leaves the service and the fake. */
  run(browser: Browser, url: string): Promise<Visit[]>;
  /** Starts the flow at `url` and stops at the provider's redirect back to the callback, unfollowed: its URL. */
  untilCallback(browser: Browser, url: string): Promise<string>;
  /** The query of a redirect to the return_url, checked to hold the outcome's parameters and nothing else. */
  returned(visit: Visit, returnUrl?: string): ReturnQuery;
  /**
   * Disconnects the user from the provider (expects 204) and runs the deregistration it leaves: the
   * fakes have one account per provider, and a deregistration there ends every grant of it, so it must
   * be over before another user's flow links that account.
   */
  release(userId: string, provider: Provider): Promise<void>;
  connectionsOf(userId: string): Promise<{ id: string; provider: string; status: string; provider_user_id: string | null; provider_username: string | null; scope: string | null }[]>;
  /**
   * A second instance of the service on the same PostgreSQL database, configured as the first (not
   * listening; its HTTP server for supertest). PostgreSQL only: the embedded database takes one client.
   */
  secondInstance(): Promise<{ app: NestFastifyApplication; server: import('node:http').Server; close(): Promise<void> }>;
  /** Every stored token is sealed, opens to a token the fake issued, and every verifier left is sealed. */
  expectSealed(): Promise<void>;
  /** No secret in any response, redirect (but the provider's), page or log line, except where it must be (see below). */
  expectNoLeaks(): void;
  close(): Promise<void>;
}

export const RETURN_URL = 'http://localhost:5999/wearables/done';

/**
 * The log lines of every application this process started. nestjs-pino keeps one root logger per
 * process, built for the first application: a second one started in the same test file logs into the
 * first one's stream. So every world checks its secrets against every world's lines.
 */
const processLogs: string[][] = [];

/** A port free now, for PUBLIC_URL (the application listens on it right after). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startConnectWorld(options: WorldOptions = {}): Promise<ConnectWorld> {
  const configured = options.providers ?? [...PROVIDERS];
  const fake = await startFakeProviders(CLIENTS);
  const env: Record<string, string> = { PROVIDER_TIMEOUT_MS: String(options.providerTimeoutMs ?? 5_000), ...options.providerEnv };
  for (const provider of configured) {
    const prefix = provider.toUpperCase();
    env[`${prefix}_CLIENT_ID`] = CLIENTS[provider].clientId;
    env[`${prefix}_CLIENT_SECRET`] = CLIENTS[provider].clientSecret;
    env[`${prefix}_BASE_URL`] = fake.baseUrl;
  }
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  let t: TestApp;
  const settings: Partial<RuntimeConfig> = {
    providers: loadProvidersConfig(env),
    connect: { ...loadConnectConfig({}), ...options.connect, publicUrl },
    background: { ...loadBackgroundConfig({}), ...options.background },
    ...(options.authFailureLimitPerMinute === undefined ? {} : { authFailureLimitPerMinute: options.authFailureLimitPerMinute }),
    webhooks: { ...loadWebhooksConfig({}), ...options.webhooks },
  };
  try {
    t = await startTestApp(settings);
    await t.app.listen(port, '127.0.0.1');
  } catch (error) {
    await fake.close();
    throw error;
  }
  processLogs.push(t.logs);
  const created: ConnectionEvent[] = [];
  t.app.get(EventEmitter2).on(CONNECTION_EVENTS.created, (event: ConnectionEvent) => created.push(event));

  const browsers: Browser[] = [];
  const apiResponses: request.Response[] = [];
  const sessionTokens = new Set<string>();
  const reachable = (url: URL) => url.origin === publicUrl || url.origin === fake.baseUrl;
  const defaultReturnUrl = options.returnUrl ?? RETURN_URL;

  async function api(method: 'get' | 'post' | 'delete', path: string, body?: object, key = ADMIN_KEY) {
    let req = request(t.server)[method](path).set('X-API-Key', key);
    if (body !== undefined) req = req.send(body);
    const res = await req;
    apiResponses.push(res);
    return res;
  }

  const world: ConnectWorld = {
    t,
    fake,
    publicUrl,
    returnUrl: defaultReturnUrl,
    created,
    browser() {
      const browser = new Browser();
      browsers.push(browser);
      return browser;
    },
    api,
    async createUser() {
      const res = await api('post', '/api/v1/users', { id: randomUUID() });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    },
    async createSession(userId, body = {}) {
      const res = await api('post', `/api/v1/users/${userId}/connect-sessions`, { return_url: defaultReturnUrl, ...body });
      expect(res.status, res.text).toBe(201);
      const token = new URL(res.body.url).pathname.split('/').pop()!;
      sessionTokens.add(token);
      return { ...res.body, token };
    },
    async release(userId, provider) {
      const res = await api('delete', `/api/v1/users/${userId}/connections/${provider}`);
      expect(res.status, res.text).toBe(204);
      await t.app.get(JobsService).drain();
    },
    run: (browser, url) => browser.follow(url, { reachable }),
    async untilCallback(browser, url) {
      const visits = await browser.follow(url, { reachable: (next) => reachable(next) && !(next.origin === publicUrl && next.pathname.startsWith('/oauth/')) });
      const last = visits[visits.length - 1];
      expect(last.status, last.body).toBe(302);
      expect(last.location).toMatch(new RegExp(`^${publicUrl}/oauth/[a-z]+/callback\\?`));
      return last.location!;
    },
    returned(visit, returnUrl = defaultReturnUrl) {
      expect(visit.status, visit.body).toBe(302);
      const location = new URL(visit.location!);
      const expected = new URL(returnUrl);
      expect(`${location.origin}${location.pathname}`).toBe(`${expected.origin}${expected.pathname}`);
      const query = Object.fromEntries(location.searchParams) as unknown as ReturnQuery;
      const names = Object.keys(query).sort();
      const expectedNames = {
        connected: ['connect_session_id', 'connection_id', 'provider', 'status'],
        error: ['connect_session_id', 'error', 'provider', 'status'],
        cancelled: ['connect_session_id', 'status'],
      };
      expect(names).toEqual(expectedNames[query.status]);
      expect(location.searchParams.getAll('status')).toHaveLength(1);
      return query;
    },
    async connectionsOf(userId) {
      const res = await api('get', `/api/v1/users/${userId}/connections`);
      expect(res.status, res.text).toBe(200);
      return res.body;
    },
    async secondInstance() {
      if (!process.env.DATABASE_URL) throw new Error('A second instance needs PostgreSQL (DATABASE_URL)');
      const lines: string[] = [];
      processLogs.push(lines);
      const stream = new Writable({
        write(chunk, _encoding, done) {
          lines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      });
      const app = await createApp({ ...testRuntimeConfig(t.databaseUrl), ...settings }, stream);
      await app.getHttpAdapter().getInstance().ready();
      return { app, server: app.getHttpServer(), close: () => app.close() };
    },
    async expectSealed() {
      const cipher = new TokenCipher(TOKEN_KEY);
      const rows = await t.query<{ user_id: string; provider: string; access_token: string | null; refresh_token: string | null }>(
        'SELECT user_id, provider, access_token, refresh_token FROM connections',
      );
      for (const row of rows) {
        for (const field of ['access_token', 'refresh_token'] as const) {
          const value = row[field];
          if (value === null) continue;
          expect(value, `${row.provider} ${field} is sealed`).toMatch(/^v1\./);
          expect(fake.isActive(cipher.decrypt(value, tokenContext(row.user_id, row.provider, field))), `${row.provider} ${field} is one the fake issued`).toBe(true);
        }
      }
      const verifiers = await t.query<{ code_verifier: string | null }>('SELECT code_verifier FROM connect_attempts WHERE code_verifier IS NOT NULL');
      for (const { code_verifier } of verifiers) expect(code_verifier).toMatch(/^v1\./);
    },
    expectNoLeaks() {
      const visits = browsers.flatMap((browser) => browser.visits);
      const flowCookies = visits.flatMap((visit) => visit.setCookies).map((header) => /^wc_connect_[a-z]+=([^;]*)/.exec(header)?.[1]).filter(Boolean) as string[];
      const states = visits.flatMap((visit) => (visit.location ? new URL(visit.location).searchParams.getAll('state') : []));
      const codes = visits.flatMap((visit) => (visit.location ? new URL(visit.location).searchParams.getAll('code') : []));
      const verifiers = fake.calls.map((call) => call.form.get('code_verifier')).filter(Boolean) as string[];
      const clientSecrets = Object.values(CLIENTS).map((client) => client.clientSecret);
      const secrets = [...new Set([...fake.secrets(), ...states, ...codes, ...verifiers, ...flowCookies, ...clientSecrets])].filter((secret) => secret.length >= 16);
      expect(states.length + codes.length).toBeGreaterThan(0);
      const tokens = [...sessionTokens];

      for (const visit of visits) {
        const url = new URL(visit.url);
        if (url.origin !== publicUrl) continue; // the fake provider's own answers
        const toProvider = visit.location !== undefined && new URL(visit.location).origin === fake.baseUrl;
        const headers = [...visit.headers.entries()].filter(([name]) => name !== 'set-cookie' && name !== 'location').map(([, value]) => value).join('\n');
        const cookies = visit.setCookies.map((header) => header.replace(/^wc_connect_[a-z]+=[^;]*/, '')).join('\n');
        for (const secret of secrets) {
          expect(visit.body, `a page of ${url.pathname} shows a secret`).not.toContain(secret);
          expect(headers + cookies, `a header of ${url.pathname} holds a secret`).not.toContain(secret);
          // The redirect to the provider carries the state, as OAuth requires: nothing else of these.
          if (!toProvider || !states.includes(secret)) expect(visit.location ?? '', `the redirect of ${url.pathname} holds a secret`).not.toContain(secret);
        }
        for (const token of tokens) {
          // A link's token is only in the link's own URLs: its redirect to its provider's start, and its page of links.
          const ownLink = url.pathname === `/connect/${token}`;
          if (!ownLink) expect(visit.body, `the page of ${url.pathname} holds a link's token`).not.toContain(token);
          if (!(ownLink && visit.location?.startsWith(`${publicUrl}/connect/${token}/`))) {
            expect(visit.location ?? '', `the redirect of ${url.pathname} holds a link's token`).not.toContain(token);
          }
          expect(headers + visit.setCookies.join('\n'), `a header of ${url.pathname} holds a link's token`).not.toContain(token);
        }
      }
      for (const res of apiResponses) {
        const text = `${res.text}\n${JSON.stringify(res.headers)}`;
        for (const secret of secrets) expect(text, 'an API answer holds a secret').not.toContain(secret);
        // The link is the one place its token is given, in the answer that creates the session.
        const createsSession = res.status === 201 && typeof res.body?.url === 'string' && res.body.url.includes('/connect/');
        for (const token of tokens) {
          if (!(createsSession && res.body.url.endsWith(`/connect/${token}`))) expect(text, 'an API answer holds a link token').not.toContain(token);
        }
      }
      const lines = processLogs.flat();
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        for (const secret of [...secrets, ...tokens]) expect(line, 'a log line holds a secret').not.toContain(secret);
      }
    },
    async close() {
      await t.close();
      await fake.close();
    },
  };
  return world;
}
