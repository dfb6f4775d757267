import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { expect } from 'vitest';
import type { CreatedKey, Scope, UserBody } from './contract.js';
import { ADMIN_KEY, type TestApp } from './test-app.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface CallOptions {
  body?: unknown;
  /** Sent verbatim, as application/json unless `contentType` says otherwise (for malformed JSON). */
  rawBody?: string;
  /** The Content-Type of `rawBody`. */
  contentType?: string;
  /** The API key; null sends none. Defaults to the admin key (httpHelpers' `defaultKey`). */
  key?: string | null;
  /** More request headers. */
  headers?: Record<string, string>;
}

/** The names of every field, at any depth, whose name mentions a token. */
export function keysContainingToken(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysContainingToken);
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, inner]) => [
      ...(/token/i.test(key) ? [key] : []),
      ...keysContainingToken(inner),
    ]);
  }
  return [];
}

/**
 * Request helpers that check every response for secrets: `token()` makes a provider token and
 * remembers it, and `call()` fails the test if any response ever contains one, or a token field.
 * The factories (`createUser`, `putConnection`, `createKey`) go through `call()`, with the admin key
 * (`defaultKey`) unless told otherwise.
 */
export function httpHelpers(app: () => Pick<TestApp, 'server'>, defaultKey: string = ADMIN_KEY) {
  const sentTokens = new Set<string>();

  function token(kind: 'access' | 'refresh'): string {
    const value = `${kind}-tok-${randomUUID()}`;
    sentTokens.add(value);
    return value;
  }

  function expectNoSecrets(res: request.Response): void {
    const text = res.text ?? '';
    for (const secret of sentTokens) expect(text, `response leaks a token: ${text}`).not.toContain(secret);
    expect(keysContainingToken(res.body), 'response has a token field').toEqual([]);
  }

  /** Sends a request and checks, for every response, that no token leaks. */
  async function call(method: Method, path: string, options: CallOptions = {}) {
    let req = request(app().server)[method](path);
    const key = options.key === undefined ? defaultKey : options.key;
    if (key !== null) req = req.set('X-API-Key', key);
    for (const [name, value] of Object.entries(options.headers ?? {})) req = req.set(name, value);
    if (options.rawBody !== undefined) req = req.set('Content-Type', options.contentType ?? 'application/json').send(options.rawBody);
    else if (options.body !== undefined) req = req.send(options.body as object);
    const res = await req;
    expectNoSecrets(res);
    return res;
  }

  /** Creates a user, with a random id unless `body` names one: expects 201, answers the user. */
  async function createUser(body: Record<string, unknown> = {}): Promise<UserBody> {
    const res = await call('post', '/api/v1/users', { body: { id: randomUUID(), ...body } });
    expect(res.status, res.text).toBe(201);
    return res.body as UserBody;
  }

  /** PUT /api/v1/users/{userId}/connections/{provider} with `body`; the response, unchecked. */
  function putConnection(userId: string, provider: string, body: Record<string, unknown>, key?: string | null) {
    return call('put', `/api/v1/users/${userId}/connections/${provider}`, { body, key });
  }

  /** Creates an API key with `scopes` (and `extra` fields), with `key`: expects 201, answers it with its secret. */
  async function createKey(scopes: Scope[], extra: Record<string, unknown> = {}, key?: string): Promise<CreatedKey> {
    const res = await call('post', '/api/v1/api-keys', { body: { name: `${scopes.join('+')}-${randomUUID()}`, scopes, ...extra }, key });
    expect(res.status, res.text).toBe(201);
    return res.body as CreatedKey;
  }

  return { token, call, createUser, putConnection, createKey };
}

/** An error response: the status, and a body that is exactly {"detail": "<string>"} mentioning each of `mentions`. */
export function expectError(res: request.Response, status: number, ...mentions: (string | RegExp)[]): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(Object.keys(res.body)).toEqual(['detail']);
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.detail.length).toBeGreaterThan(0);
  for (const mention of mentions) {
    if (typeof mention === 'string') expect(res.body.detail).toContain(mention);
    else expect(res.body.detail).toMatch(mention);
  }
}

/** The stored (encrypted) token columns of the user's one connection to the provider, read from the database. */
export async function storedTokens(
  t: TestApp,
  userId: string,
  provider: string,
): Promise<{ access_token: string | null; refresh_token: string | null }> {
  const rows = await t.query<{ access_token: string | null; refresh_token: string | null }>(
    'SELECT access_token, refresh_token FROM connections WHERE user_id = $1 AND provider = $2',
    [userId, provider],
  );
  expect(rows).toHaveLength(1);
  return rows[0];
}
