import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import type { ApiKeysService } from './api-keys.service.js';
import { BootstrapApiKey } from './bootstrap-api-key.js';
import type { Scope } from './scopes.js';

const BOOTSTRAP_KEY = 'operator-chosen-bootstrap-key-0123';

interface StoredKey {
  name: string;
  key: string;
  scopes: Scope[];
  active: boolean;
}

/** An ApiKeysService over a list of keys, with the calls BootstrapApiKey makes. */
function fakeApiKeys(stored: StoredKey[]) {
  let generated = 0;
  const apiKeys = {
    async register(name: string, key: string, scopes: Scope[]): Promise<boolean> {
      if (stored.some((k) => k.key === key)) return false;
      stored.push({ name, key, scopes, active: true });
      return true;
    },
    async create(name: string, scopes: Scope[]) {
      const key = `wck_generated-${++generated}-0123456789abcdef`;
      stored.push({ name, key, scopes, active: true });
      return { key };
    },
    async count(): Promise<number> {
      return stored.length;
    },
    async hasActiveAdminKey(): Promise<boolean> {
      return stored.some((k) => k.active && k.scopes.includes('admin'));
    },
  };
  return apiKeys as unknown as ApiKeysService;
}

describe('BootstrapApiKey', () => {
  let stdout: MockInstance<typeof process.stdout.write>;
  let logged: MockInstance;
  let warned: MockInstance;
  /** Everything written: to the terminal, and to the logger. */
  const printed = () => stdout.mock.calls.map((args) => String(args[0])).join('');
  const logText = () => JSON.stringify([...logged.mock.calls, ...warned.mock.calls]);

  beforeEach(() => {
    stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    logged = vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    warned = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function boot(stored: StoredKey[], bootstrapApiKey?: string): Promise<void> {
    const options = { rateLimitPerMinute: 1, authFailureLimitPerMinute: 1, bootstrapApiKey };
    await new BootstrapApiKey(fakeApiKeys(stored), options).onApplicationBootstrap();
  }

  it('registers BOOTSTRAP_API_KEY as an admin key named bootstrap, once, logging that without the key', async () => {
    const stored: StoredKey[] = [];
    await boot(stored, BOOTSTRAP_KEY);
    expect(stored).toEqual([{ name: 'bootstrap', key: BOOTSTRAP_KEY, scopes: ['admin'], active: true }]);
    expect(logged.mock.calls.map((args) => args[0])).toEqual(['Registered BOOTSTRAP_API_KEY as an admin key']);

    logged.mockClear();
    await boot(stored, BOOTSTRAP_KEY);
    expect(stored).toHaveLength(1);
    expect(logged).not.toHaveBeenCalled();
    expect(warned).not.toHaveBeenCalled();
    expect(printed()).toBe('');
    expect(logText()).not.toContain(BOOTSTRAP_KEY);
  });

  it('with no key at all and none given, creates an admin key and prints it once to the terminal, never to the log', async () => {
    const stored: StoredKey[] = [];
    await boot(stored);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ name: 'generated at first start', scopes: ['admin'] });
    const { key } = stored[0];
    expect(printed()).toContain(`    ${key}\n`);
    expect(printed()).toContain(`curl -H "X-API-Key: ${key}"`);
    expect(logText()).not.toContain(key);
    expect(warned).not.toHaveBeenCalled();

    // The next start finds a key: nothing is created or printed.
    stdout.mockClear();
    await boot(stored);
    expect(stored).toHaveLength(1);
    expect(printed()).toBe('');
    expect(warned).not.toHaveBeenCalled();
  });

  it('with keys but no active admin key among them, warns how to get one back; nothing is created', async () => {
    const stored: StoredKey[] = [
      { name: 'reader', key: 'wck_reader-0123456789', scopes: ['read'], active: true },
      { name: 'old admin', key: 'wck_old-admin-0123456789', scopes: ['admin'], active: false },
    ];
    await boot(stored);
    expect(stored).toHaveLength(2);
    expect(printed()).toBe('');
    expect(warned).toHaveBeenCalledTimes(1);
    const [warning] = warned.mock.calls[0] as [string];
    expect(warning).toContain('No active admin API key');
    expect(warning).toContain('restart with BOOTSTRAP_API_KEY=');
    expect(warning).not.toContain('stays revoked');
  });

  it('warns too when BOOTSTRAP_API_KEY is the revoked admin key, saying that it stays revoked, without the key', async () => {
    const stored: StoredKey[] = [{ name: 'bootstrap', key: BOOTSTRAP_KEY, scopes: ['admin'], active: false }];
    await boot(stored, BOOTSTRAP_KEY);
    expect(stored).toHaveLength(1);
    expect(logged).not.toHaveBeenCalled();
    expect(warned).toHaveBeenCalledTimes(1);
    expect(String(warned.mock.calls[0][0])).toContain('stays revoked');
    expect(logText()).not.toContain(BOOTSTRAP_KEY);
    expect(printed()).toBe('');
  });
});
