import { HttpException, HttpStatus } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiKeysService, Principal } from './api-keys.service.js';
import type { AuthOptions } from './auth.options.js';
import { type AuthRequest, AuthService } from './auth.service.js';
import { MemoryRateLimitStorage } from './rate-limit.storage.js';
import type { Scope } from './scopes.js';

const READ_KEY = 'wck_read-key-0123456789';
const WRITE_KEY = 'wck_write-key-0123456789';
const ADMIN_KEY = 'wck_admin-key-0123456789';
const PRINCIPALS: Record<string, Principal> = {
  [READ_KEY]: { keyId: 'read-id', scopes: ['read'] },
  [WRITE_KEY]: { keyId: 'write-id', scopes: ['write'] },
  [ADMIN_KEY]: { keyId: 'admin-id', scopes: ['admin'] },
};

/**
 * An ApiKeysService that knows the keys above, and records the keys it was asked about. Its cache
 * holds the keys in `cachedKeys` (what cached() answers at once).
 */
function fakeApiKeys(cachedKeys: string[] = []) {
  const asked: string[] = [];
  const apiKeys = {
    async authenticate(key: string): Promise<Principal | null> {
      asked.push(key);
      return PRINCIPALS[key] ?? null;
    },
    cached(key: string): Principal | null | undefined {
      return cachedKeys.includes(key) ? PRINCIPALS[key] : undefined;
    },
  };
  return { apiKeys: apiKeys as unknown as ApiKeysService, asked };
}

class FakeReply {
  readonly headers: Record<string, string | number> = {};
  header(name: string, value: string | number): this {
    this.headers[name] = value;
    return this;
  }
}

const storages: MemoryRateLimitStorage[] = [];
afterEach(async () => {
  for (const storage of storages.splice(0)) await storage.close();
});

function service(options: Partial<AuthOptions> = {}, cachedKeys: string[] = [], inMemory = true) {
  const storage = new MemoryRateLimitStorage();
  storages.push(storage);
  const { apiKeys, asked } = fakeApiKeys(cachedKeys);
  // A storage that can only answer with a promise, as Redis's.
  const limits = inMemory ? storage : { hit: storage.hit.bind(storage), close: async () => undefined };
  const auth = new AuthService(apiKeys, limits, { rateLimitPerMinute: 1_000, authFailureLimitPerMinute: 1_000, ...options });
  return { auth, asked };
}

function from(key: string | string[] | undefined, ip = '203.0.113.1'): AuthRequest {
  return { headers: key === undefined ? {} : { 'x-api-key': key }, ip };
}

/** What admit() threw: its status, message and the headers it left on the reply. */
async function refusal(auth: AuthService, request: AuthRequest, scope: Scope = 'read') {
  const reply = new FakeReply();
  const thrown = await auth.admit(request, reply, scope).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown, 'admit() admitted the request').toBeInstanceOf(HttpException);
  const error = thrown as HttpException;
  const body = error.getResponse();
  return { status: error.getStatus(), message: typeof body === 'string' ? body : (body as { message: string }).message, headers: reply.headers };
}

describe('AuthService.admit', () => {
  it("admits a key holding the route's scope, with its principal and the X-RateLimit-* headers", async () => {
    const { auth } = service({ rateLimitPerMinute: 10 });
    const reply = new FakeReply();
    expect(await auth.admit(from(READ_KEY), reply, 'read')).toEqual(PRINCIPALS[READ_KEY]);
    expect(reply.headers).toEqual({ 'X-RateLimit-Limit': 10, 'X-RateLimit-Remaining': 9, 'X-RateLimit-Reset': 60 });
  });

  it('grants write the read scope and admin both; refuses a key lacking the scope with 403 naming it', async () => {
    const { auth } = service();
    const cases: [string, Scope, boolean][] = [
      [READ_KEY, 'read', true],
      [READ_KEY, 'write', false],
      [READ_KEY, 'admin', false],
      [WRITE_KEY, 'read', true],
      [WRITE_KEY, 'write', true],
      [WRITE_KEY, 'admin', false],
      [ADMIN_KEY, 'read', true],
      [ADMIN_KEY, 'write', true],
      [ADMIN_KEY, 'admin', true],
    ];
    for (const [key, scope, allowed] of cases) {
      if (allowed) {
        expect(await auth.admit(from(key), new FakeReply(), scope)).toEqual(PRINCIPALS[key]);
      } else {
        expect(await refusal(auth, from(key), scope)).toMatchObject({ status: 403, message: `This API key lacks the "${scope}" scope` });
      }
    }
  });

  it('refuses a missing, empty, repeated, unknown or overlong key with 401, asking about none it need not', async () => {
    const { auth, asked } = service();
    const overlong = `wck_${'x'.repeat(300)}`;
    for (const key of [undefined, '', [READ_KEY, READ_KEY], 'wck_unknown-0123456789', overlong]) {
      const refused = await refusal(auth, from(key));
      expect(refused).toEqual({ status: HttpStatus.UNAUTHORIZED, message: 'Invalid or missing API key', headers: {} });
    }
    // Only the one key that could be a key was looked up.
    expect(asked).toEqual(['wck_unknown-0123456789']);
  });

  it('answers the request past the per-key limit with 429 and Retry-After, counting every scope and route of the key', async () => {
    const { auth } = service({ rateLimitPerMinute: 3 });
    const remaining: unknown[] = [];
    for (const scope of ['read', 'write', 'read'] as const) {
      const reply = new FakeReply();
      await auth.admit(from(ADMIN_KEY), reply, scope);
      remaining.push(reply.headers['X-RateLimit-Remaining']);
    }
    expect(remaining).toEqual([2, 1, 0]);
    const refused = await refusal(auth, from(ADMIN_KEY), 'admin');
    expect(refused.status).toBe(HttpStatus.TOO_MANY_REQUESTS);
    expect(refused.message).toBe('Rate limit exceeded: 3 requests per minute per API key; retry after 60 s');
    expect(refused.headers).toEqual({ 'X-RateLimit-Limit': 3, 'X-RateLimit-Remaining': 0, 'X-RateLimit-Reset': 60, 'Retry-After': 60 });
    // Another key has a limit of its own.
    expect(await auth.admit(from(READ_KEY), new FakeReply(), 'read')).toEqual(PRINCIPALS[READ_KEY]);
  });

  it('counts the per-key limit before the scope: a key past its limit gets 429 even where it lacks the scope', async () => {
    const { auth } = service({ rateLimitPerMinute: 1 });
    expect((await refusal(auth, from(READ_KEY), 'write')).status).toBe(403);
    expect((await refusal(auth, from(READ_KEY), 'write')).status).toBe(429);
  });

  it('blocks an address past the failed-authentication limit: 429 with Retry-After for wrong and missing keys', async () => {
    const { auth } = service({ authFailureLimitPerMinute: 2 });
    expect((await refusal(auth, from('wck_wrong-0123456789'))).status).toBe(401);
    expect((await refusal(auth, from(undefined))).status).toBe(401);
    for (const key of ['wck_wrong-0123456789', undefined, '']) {
      expect(await refusal(auth, from(key))).toEqual({
        status: HttpStatus.TOO_MANY_REQUESTS,
        message: 'Too many failed authentication attempts from this address; retry after 60 s',
        headers: { 'Retry-After': '60' },
      });
    }
    // Another address is not blocked.
    expect((await refusal(auth, from('wck_wrong-0123456789', '203.0.113.2'))).status).toBe(401);
  });

  it('admits a valid key from a blocked address, and does not count its requests as failures', async () => {
    const { auth } = service({ authFailureLimitPerMinute: 2 });
    for (let i = 0; i < 10; i++) expect(await auth.admit(from(READ_KEY, '203.0.113.9'), new FakeReply(), 'read')).toEqual(PRINCIPALS[READ_KEY]);
    // Successes did not count: the first failures are 401s.
    expect((await refusal(auth, from(undefined, '203.0.113.9'))).status).toBe(401);
    expect((await refusal(auth, from(undefined, '203.0.113.9'))).status).toBe(401);
    expect((await refusal(auth, from(undefined, '203.0.113.9'))).status).toBe(429);
    expect(await auth.admit(from(ADMIN_KEY, '203.0.113.9'), new FakeReply(), 'admin')).toEqual(PRINCIPALS[ADMIN_KEY]);
    // A 403 is no failed authentication: the key was valid.
    expect((await refusal(auth, from(READ_KEY, '203.0.113.9'), 'admin')).status).toBe(403);
  });

  it('names no key in any refusal or header', async () => {
    const { auth } = service({ rateLimitPerMinute: 1, authFailureLimitPerMinute: 1 });
    await auth.admit(from(READ_KEY), new FakeReply(), 'read');
    const refusals = [
      await refusal(auth, from(READ_KEY)),
      await refusal(auth, from(WRITE_KEY), 'admin'),
      await refusal(auth, from('wck_wrong-0123456789')),
      await refusal(auth, from('wck_wrong-0123456789')),
    ];
    expect(refusals.map((r) => r.status)).toEqual([429, 403, 401, 429]);
    const text = JSON.stringify(refusals);
    for (const key of [READ_KEY, WRITE_KEY, 'wck_wrong-0123456789']) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(key.slice(4, 12));
    }
  });
});

describe('AuthService.admitNow', () => {
  it('admits a cached key counted in memory at once, with the principal and headers admit() gives, on the same counter', async () => {
    const { auth, asked } = service({ rateLimitPerMinute: 10 }, [READ_KEY]);
    const now = new FakeReply();
    expect(auth.admitNow(from(READ_KEY), now, 'read')).toEqual(PRINCIPALS[READ_KEY]);
    expect(now.headers).toEqual({ 'X-RateLimit-Limit': 10, 'X-RateLimit-Remaining': 9, 'X-RateLimit-Reset': 60 });
    const later = new FakeReply();
    expect(await auth.admit(from(READ_KEY), later, 'read')).toEqual(PRINCIPALS[READ_KEY]);
    expect(later.headers['X-RateLimit-Remaining']).toBe(8);
    expect(asked).toEqual([READ_KEY]);
  });

  it('leaves to admit() what it cannot tell at once: a key not cached, a missing or overlong key, counters outside memory', () => {
    const { auth } = service({}, [READ_KEY]);
    for (const request of [from(WRITE_KEY), from(undefined), from(''), from(['a', 'b']), from(`${READ_KEY}${'x'.repeat(300)}`)]) {
      const reply = new FakeReply();
      expect(auth.admitNow(request, reply, 'read')).toBeUndefined();
      expect(reply.headers).toEqual({});
    }
    const { auth: redisLike } = service({}, [READ_KEY], false);
    expect(redisLike.admitNow(from(READ_KEY), new FakeReply(), 'read')).toBeUndefined();
  });

  it('refuses a cached key at once: 403 naming the scope it lacks, 429 with Retry-After past its limit', () => {
    const { auth } = service({ rateLimitPerMinute: 1 }, [READ_KEY]);
    expect(() => auth.admitNow(from(READ_KEY), new FakeReply(), 'write')).toThrow('This API key lacks the "write" scope');
    const reply = new FakeReply();
    let thrown: unknown;
    try {
      auth.admitNow(from(READ_KEY), reply, 'read');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HttpException);
    expect((thrown as HttpException).getStatus()).toBe(HttpStatus.TOO_MANY_REQUESTS);
    expect(reply.headers['Retry-After']).toBeGreaterThan(0);
  });
});
