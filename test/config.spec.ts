import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileService, ROOT } from './support/compile-service.js';
import { ConfigError, loadConfig } from '../src/config/app.config.js';
import { loadBackgroundConfig } from '../src/config/background.config.js';
import { loadProvidersConfig } from '../src/config/providers.config.js';
import { loadWebhooksConfig } from '../src/config/webhooks.config.js';

// A build of its own (incremental), so that it races neither `npm run build` nor other test files.
const BUILD_DIR = join(ROOT, 'dist', 'test-builds', 'config');
const KEY = randomBytes(32).toString('base64');
const PG = 'postgres://user:secret@db.example:5432/app';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has the documented defaults for an empty environment (embedded database)', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: undefined,
      dataDir: resolve('data'),
      dbPoolSize: 1,
      dbConnectTimeoutMs: 3_000,
      dbStatementTimeoutMs: 5_000,
      bootstrapApiKey: undefined,
      demoData: true,
      tokenEncryptionKey: undefined,
      tokenEncryptionKeysOld: [],
      rateLimitPerMinute: 6000,
      authFailureLimitPerMinute: 30,
      redisUrl: undefined,
      trustProxy: false,
      requestTimeoutMs: 30_000,
      shutdownTimeoutMs: 25_000,
      logLevel: 'info',
      // Their own variables are tested in src/config/*.spec.ts.
      providers: loadProvidersConfig({}),
      connect: { publicUrl: 'http://localhost:3000', sessionTtlSeconds: 900, returnUrls: null, allowSharedAccounts: false, appName: 'your app', frameAncestors: [] },
      background: loadBackgroundConfig({}),
      webhooks: loadWebhooksConfig({}),
    });
  });

  it('with DATABASE_URL: pool of 10, no demo data, the given key', () => {
    const config = loadConfig({ DATABASE_URL: PG, TOKEN_ENCRYPTION_KEY: KEY });
    expect(config.databaseUrl).toBe(PG);
    expect(config.dbPoolSize).toBe(10);
    expect(config.demoData).toBe(false);
    expect(config.tokenEncryptionKey).toEqual(Buffer.from(KEY, 'base64'));
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', DB_POOL_SIZE: '', DEMO_DATA: '', LOG_LEVEL: '', DATABASE_URL: '', REDIS_URL: '', BOOTSTRAP_API_KEY: '' })).toEqual(loadConfig({}));
  });

  it('reads every variable', () => {
    const old = randomBytes(32).toString('base64');
    expect(
      loadConfig({
        PORT: '8080',
        HOST: '127.0.0.1',
        DATABASE_URL: 'postgresql://db/app',
        DATA_DIR: '/tmp/wc-data',
        DB_POOL_SIZE: '25',
        DB_CONNECT_TIMEOUT_MS: '1500',
        DB_STATEMENT_TIMEOUT_MS: '60000',
        BOOTSTRAP_API_KEY: 'a-bootstrap-key-of-16+',
        DEMO_DATA: 'yes',
        TOKEN_ENCRYPTION_KEY: KEY,
        TOKEN_ENCRYPTION_KEYS_OLD: ` ${old} ,`,
        RATE_LIMIT_PER_MINUTE: '100',
        AUTH_FAILURE_LIMIT_PER_MINUTE: '5',
        REDIS_URL: 'rediss://cache:6380',
        TRUST_PROXY: ' 10.0.0.0/8, 192.168.1.10 ,loopback',
        REQUEST_TIMEOUT_MS: '5000',
        SHUTDOWN_TIMEOUT_MS: '10000',
        LOG_LEVEL: 'warn',
      }),
    ).toEqual({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'postgresql://db/app',
      dataDir: '/tmp/wc-data',
      dbPoolSize: 25,
      dbConnectTimeoutMs: 1500,
      dbStatementTimeoutMs: 60_000,
      bootstrapApiKey: 'a-bootstrap-key-of-16+',
      demoData: true,
      tokenEncryptionKey: Buffer.from(KEY, 'base64'),
      tokenEncryptionKeysOld: [Buffer.from(old, 'base64')],
      rateLimitPerMinute: 100,
      authFailureLimitPerMinute: 5,
      redisUrl: 'rediss://cache:6380',
      trustProxy: ['10.0.0.0/8', '192.168.1.10', 'loopback'],
      requestTimeoutMs: 5000,
      shutdownTimeoutMs: 10_000,
      logLevel: 'warn',
      providers: loadProvidersConfig({}),
      connect: { publicUrl: 'http://localhost:8080', sessionTtlSeconds: 900, returnUrls: null, allowSharedAccounts: false, appName: 'your app', frameAncestors: [] },
      background: loadBackgroundConfig({}),
      webhooks: loadWebhooksConfig({}),
    });
  });

  const bad: [variable: string, env: Record<string, string>][] = [
    ['PORT', { PORT: 'http' }],
    ['PORT', { PORT: '65536' }],
    ['PORT', { PORT: '80.5' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/app', TOKEN_ENCRYPTION_KEY: KEY }],
    ['DB_POOL_SIZE', { DB_POOL_SIZE: '0' }],
    ['DB_POOL_SIZE', { DB_POOL_SIZE: 'many' }],
    ['DB_CONNECT_TIMEOUT_MS', { DB_CONNECT_TIMEOUT_MS: '3s' }],
    ['DB_STATEMENT_TIMEOUT_MS', { DB_STATEMENT_TIMEOUT_MS: '0' }],
    ['SHUTDOWN_TIMEOUT_MS', { SHUTDOWN_TIMEOUT_MS: '30s' }],
    ['BOOTSTRAP_API_KEY', { BOOTSTRAP_API_KEY: 'too-short' }],
    ['DEMO_DATA', { DEMO_DATA: 'maybe' }],
    ['TOKEN_ENCRYPTION_KEY', { TOKEN_ENCRYPTION_KEY: 'c2hvcnQ=' }],
    ['TOKEN_ENCRYPTION_KEY', { TOKEN_ENCRYPTION_KEY: `${KEY.slice(0, -2)}!!` }],
    ['TOKEN_ENCRYPTION_KEY', { DATABASE_URL: PG }],
    ['TOKEN_ENCRYPTION_KEYS_OLD', { TOKEN_ENCRYPTION_KEYS_OLD: `${KEY},c2hvcnQ=` }],
    ['RATE_LIMIT_PER_MINUTE', { RATE_LIMIT_PER_MINUTE: '-1' }],
    ['AUTH_FAILURE_LIMIT_PER_MINUTE', { AUTH_FAILURE_LIMIT_PER_MINUTE: '1e3x' }],
    ['REDIS_URL', { REDIS_URL: 'localhost:6379' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'sometimes' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'true' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'TRUE' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'yes' }],
    ['TRUST_PROXY', { TRUST_PROXY: '33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '1.5' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.1,' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.1, 0.0.0.0/0' }],
    ['TRUST_PROXY', { TRUST_PROXY: '::/0' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/0.0.0.0' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'proxy.internal' }],
    ['REQUEST_TIMEOUT_MS', { REQUEST_TIMEOUT_MS: '0' }],
    ['REQUEST_TIMEOUT_MS', { REQUEST_TIMEOUT_MS: '30s' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
  ];
  it.each(bad)('a bad %s is a ConfigError naming it (%j)', (variable, env) => {
    const error = configError(env);
    expect(error.message).toMatch(new RegExp(`\\b${variable}\\b`));
    expect(error.message).not.toContain('\n');
  });

  it('reads TRUST_PROXY as off, a hop count, or a list of proxy addresses and CIDRs', () => {
    for (const off of ['false', 'FALSE', 'no', '0', ' ']) expect(loadConfig({ TRUST_PROXY: off }).trustProxy, off).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.1.2.3' }).trustProxy).toEqual(['10.1.2.3']);
    expect(loadConfig({ TRUST_PROXY: '172.16.0.0/12,::1,fd00::/8,10.0.0.0/255.0.0.0,uniquelocal' }).trustProxy).toEqual([
      '172.16.0.0/12',
      '::1',
      'fd00::/8',
      '10.0.0.0/255.0.0.0',
      'uniquelocal',
    ]);
  });

  it('refuses TRUST_PROXY=true with one line saying why and what to set instead', () => {
    const message = configError({ TRUST_PROXY: 'true' }).message;
    expect(message).toMatch(/^TRUST_PROXY must be /);
    expect(message).toContain('hop count');
    expect(message).toContain('CIDR');
    expect(message).toContain('X-Forwarded-For');
  });

  it('never repeats a secret in its message', () => {
    const key = 'c2VjcmV0LWJ1dC1zaG9ydA==';
    expect(configError({ TOKEN_ENCRYPTION_KEY: key }).message).not.toContain(key);
    expect(configError({ DATABASE_URL: 'ftp://user:hunter2@db/app', TOKEN_ENCRYPTION_KEY: KEY }).message).not.toContain('hunter2');
  });
});

describe('the compiled service', () => {
  let workDir: string;
  beforeAll(async () => {
    await compileService(BUILD_DIR);
    workDir = mkdtempSync(join(tmpdir(), 'wc-config-'));
  }, 120_000);
  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** Starts the compiled service with `env` in a clean environment; its exit code and output. */
  async function start(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    // A clean environment (no DATABASE_URL etc. from the caller) and a directory without a .env file.
    const child = spawn(process.execPath, [join(BUILD_DIR, 'src/main.js')], {
      cwd: workDir,
      env: { PATH: process.env.PATH, HOME: workDir, DATA_DIR: join(workDir, 'data'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    return { code, stdout, stderr };
  }

  it.each([
    { variable: 'PORT', value: 'eighty', says: 'eighty' },
    { variable: 'TRUST_PROXY', value: 'true', says: 'hop count' },
  ])('does not start with $variable=$value: exit code 1 and one stderr line naming $variable', async ({ variable, value, says }) => {
    const { code, stdout, stderr } = await start({ [variable]: value });
    expect(code).toBe(1);
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`\\b${variable}\\b`));
    expect(lines[0]).toContain(says);
    expect(stdout).toBe('');
  });
});
