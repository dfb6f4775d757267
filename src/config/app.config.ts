import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { registerAs } from '@nestjs/config';
import { type BackgroundConfig, loadBackgroundConfig } from './background.config.js';
import { loadWebhooksConfig, type WebhooksConfig } from './webhooks.config.js';
import { type ConnectConfig, loadConnectConfig } from './connect.config.js';
import { isLoopback, loadProvidersConfig, type ProvidersConfig } from './providers.config.js';

export interface AppConfig {
  port: number;
  host: string;
  /** PostgreSQL connection string; when absent the embedded database is used. */
  databaseUrl?: string;
  dataDir: string;
  dbPoolSize: number;
  /** How long a request waits for a database connection before it gets a 503. */
  dbConnectTimeoutMs: number;
  /** How long a statement may run before the database cancels it (and the request gets a 503). */
  dbStatementTimeoutMs: number;
  /**
   * How long a SIGTERM's shutdown may take (requests, deliveries and jobs under way, then the embedded
   * database) before the process logs the phase that held it and exits with 1.
   */
  shutdownTimeoutMs: number;
  bootstrapApiKey?: string;
  /** Load the spec's example user and connections at start-up. */
  demoData: boolean;
  /** AES-256 key for provider tokens; absent only with the embedded database, which keeps one in dataDir. */
  tokenEncryptionKey?: Buffer;
  /** Earlier keys, still accepted for decryption until `npm run tokens:reencrypt` has run. */
  tokenEncryptionKeysOld: Buffer[];
  rateLimitPerMinute: number;
  authFailureLimitPerMinute: number;
  /** Counters of the rate limits live here when set, shared by every instance. */
  redisUrl?: string;
  /**
   * Which proxies in front are trusted to add the client's address to X-Forwarded-For (the address
   * the failed-authentication limit counts): none (false), the last n hops, or the proxies at these
   * addresses or CIDRs (Fastify's `trustProxy`). Never every hop: a client could then name its own
   * address.
   */
  trustProxy: TrustProxy;
  /** A request (headers and body) not fully received within this gets a 408 and its connection is closed. */
  requestTimeoutMs: number;
  logLevel: LogLevel;
  /** The wearable providers' OAuth clients (`P_CLIENT_ID`, …), their timeout and Suunto's subscription key. */
  providers: ProvidersConfig;
  /** The connect flow: PUBLIC_URL, CONNECT_SESSION_TTL_SECONDS, CONNECT_RETURN_URLS, CONNECT_ALLOW_SHARED_ACCOUNTS. */
  connect: ConnectConfig;
  /** The refresher and the jobs worker: REFRESH_*, JOBS_*, DEREGISTRATION_RETRY_DELAYS_SECONDS. */
  background: BackgroundConfig;
  /** The consumer webhooks: WEBHOOK_TIMEOUT_MS, WEBHOOK_RETRY_DELAYS_SECONDS, WEBHOOK_ALLOW_INSECURE_URLS, … */
  webhooks: WebhooksConfig;
}

export type TrustProxy = false | number | string[];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MAKE_KEY = 'make one with: openssl rand -base64 32';

import { ConfigError } from './env-values.js';

export { ConfigError };

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('DATABASE_URL must be a URL such as postgres://user:password@host:5432/db');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  return raw;
}

function aesKey(name: string, raw: string): Buffer {
  const key = Buffer.from(raw.trim(), 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw.trim()) || key.length !== 32) {
    throw new ConfigError(`${name} must be 32 random bytes in base64; ${MAKE_KEY}`);
  }
  return key;
}

function tokenKeys(env: Env, url: string | undefined): Pick<AppConfig, 'tokenEncryptionKey' | 'tokenEncryptionKeysOld'> {
  const current = env.TOKEN_ENCRYPTION_KEY ? aesKey('TOKEN_ENCRYPTION_KEY', env.TOKEN_ENCRYPTION_KEY) : undefined;
  if (!current && url) {
    throw new ConfigError(`TOKEN_ENCRYPTION_KEY is required with DATABASE_URL, to encrypt provider tokens; ${MAKE_KEY}`);
  }
  const old = (env.TOKEN_ENCRYPTION_KEYS_OLD ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => aesKey('TOKEN_ENCRYPTION_KEYS_OLD', part));
  return { tokenEncryptionKey: current, tokenEncryptionKeysOld: old };
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function redisUrl(env: Env): string | undefined {
  const raw = env.REDIS_URL;
  if (!raw) return undefined;
  if (!/^rediss?:\/\/\S+$/.test(raw)) throw new ConfigError('REDIS_URL must be a URL such as redis://127.0.0.1:6379');
  return raw;
}

/** proxy-addr's names for address ranges, accepted in a TRUST_PROXY list. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];
const TRUST_PROXY_HELP =
  'TRUST_PROXY must be false, a hop count (1 for one proxy in front) or a comma-separated list of proxy addresses or CIDRs';

/** `false`/unset: no proxy; `n`: the last n hops; `a,b/c`: the proxies at these addresses or CIDRs. Never every hop. */
function trustProxy(env: Env): TrustProxy {
  const raw = env.TRUST_PROXY?.trim();
  if (raw === undefined || raw === '' || ['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  if (['true', 'yes'].includes(raw.toLowerCase())) {
    throw new ConfigError(`${TRUST_PROXY_HELP}; "${raw}" would trust any client's X-Forwarded-For, which lets a client choose its own address`);
  }
  if (/^[0-9]+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > 32) throw new ConfigError(`${TRUST_PROXY_HELP}; a hop count is at most 32, got "${raw}"`);
    return hops;
  }
  const parts = raw.split(',').map((part) => part.trim());
  for (const part of parts) {
    const problem = proxyAddressProblem(part);
    if (problem) throw new ConfigError(`${TRUST_PROXY_HELP}; "${part}" ${problem}`);
  }
  return parts;
}

/** Why a TRUST_PROXY list item is not a proxy's address, CIDR or range name; undefined when it is one. */
function proxyAddressProblem(part: string): string | undefined {
  if (PROXY_RANGES.includes(part)) return undefined;
  const [address, bits, ...rest] = part.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return 'is not an IP address or CIDR';
  if (bits === undefined) return undefined;
  // A prefix length, or (IPv4) a netmask such as 255.255.255.0, as proxy-addr takes them.
  const prefix = /^[0-9]{1,3}$/.test(bits) ? Number(bits) : undefined;
  if (prefix === undefined && !(family === 4 && isIP(bits) === 4)) return 'has no valid prefix length';
  if (prefix !== undefined && prefix > (family === 4 ? 32 : 128)) return 'has no valid prefix length';
  if (prefix === 0 || bits === '0.0.0.0') return 'covers every address, which would trust any client';
  return undefined;
}

/**
 * TRUST_PROXY as Fastify's `trustProxy` option. A hop count becomes a function: Fastify 5 reads a
 * number as "trust no hop" (it cannot tell a proxy's hop from a client's), and the count is what
 * TRUST_PROXY=1 means: the address the one proxy in front added to X-Forwarded-For is the client's.
 */
export function fastifyTrustProxy(trust: TrustProxy): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust !== 'number') return trust;
  return (_address, hop) => hop < trust;
}

/** Reads and validates the environment; throws a ConfigError that names the first bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const url = databaseUrl(env);
  const bootstrapApiKey = env.BOOTSTRAP_API_KEY || undefined;
  if (bootstrapApiKey !== undefined && bootstrapApiKey.length < 16) {
    throw new ConfigError('BOOTSTRAP_API_KEY must be at least 16 characters long');
  }
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databaseUrl: url,
    dataDir: resolve(env.DATA_DIR || 'data'),
    dbPoolSize: integer(env, 'DB_POOL_SIZE', url ? 10 : 1, 1, 200),
    dbConnectTimeoutMs: integer(env, 'DB_CONNECT_TIMEOUT_MS', 3_000, 100, 600_000),
    dbStatementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 5_000, 100, 3_600_000),
    bootstrapApiKey,
    demoData: boolean(env, 'DEMO_DATA', !url),
    ...tokenKeys(env, url),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 6000, 1, 1_000_000_000),
    authFailureLimitPerMinute: integer(env, 'AUTH_FAILURE_LIMIT_PER_MINUTE', 30, 1, 1_000_000_000),
    redisUrl: redisUrl(env),
    trustProxy: trustProxy(env),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 25_000, 100, 3_600_000),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    providers: loadProvidersConfig(env),
    connect: loadConnectConfig(env),
    background: loadBackgroundConfig(env),
    webhooks: loadWebhooksConfig(env),
  };
}

/**
 * The `app` namespace of @nestjs/config. ConfigModule first reads `.env` (when there is one) into the
 * environment; this then validates every variable, failing on the first bad one.
 */
export const appConfig = registerAs('app', () => loadConfig(process.env));

/**
 * The settings that send secrets over plain http off this machine (an http:// PUBLIC_URL or P_BASE_URL
 * on another host): accepted, for test networks and private sandboxes, and each named in a warning at
 * start-up.
 */
export function insecureSettings(config: Pick<AppConfig, 'connect' | 'providers'>): string[] {
  const offMachine = (raw: string | undefined) => {
    if (!raw) return false;
    const url = new URL(raw);
    return url.protocol === 'http:' && !isLoopback(url.hostname);
  };
  const names = offMachine(config.connect.publicUrl) ? ['PUBLIC_URL'] : [];
  for (const [provider, settings] of Object.entries(config.providers.byProvider)) {
    if (offMachine(settings.baseUrl)) names.push(`${provider.toUpperCase()}_BASE_URL`);
  }
  return names;
}
