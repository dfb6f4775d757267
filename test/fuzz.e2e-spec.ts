/**
 * Property-based fuzzing of every route (fast-check): over 10,000 generated requests with malformed
 * UUIDs, SQL and JSON injection, Unicode and control characters, huge and deeply nested bodies,
 * wrong types and content types, duplicate and missing headers and keys, wrong methods, unknown
 * paths and malformed URLs. Sent with Fastify's inject (the whole Fastify + Nest pipeline, no socket).
 *
 * For every response:
 * - it is a 4xx, or a 2xx the route documents, with exactly the documented body (never a 5xx);
 * - a 4xx is exactly {"detail": "<non-empty string>"};
 * - without a valid key of the route's scope it is not a 2xx; with one it is not a 401 or 403;
 * - no body or header holds a provider token (seeded, or sent by the fuzz) or an API key, other
 *   than the new key in the response that creates it;
 * and at the end, no log line holds any of them either.
 *
 * FUZZ_SEED=<n> replays another sequence; FUZZ_SCALE=<x> multiplies the number of runs.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiKeysRequest,
  connectionsRequest,
  FUZZ_TOKEN_MARK,
  type FuzzRequest,
  type KeyRef,
  methodsAndPathsRequest,
  PROVIDERS,
  rawUrlRequest,
  SCOPES,
  SEED_TOKEN_MARK,
  STATUSES,
  usersRequest,
} from './support/fuzz-arbitraries.js';
import { ADMIN_KEY, startTestApp, TOKEN_KEY, type TestApp } from './support/test-app.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_124);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

type Scope = (typeof SCOPES)[number];
type KeyClass = Scope | 'invalid';
type RouteId =
  | 'health.live'
  | 'health.ready'
  | 'users.list'
  | 'users.create'
  | 'users.get'
  | 'users.delete'
  | 'connections.list'
  | 'connections.put'
  | 'connections.delete'
  | 'keys.list'
  | 'keys.create'
  | 'keys.delete';

/** The scope each route needs (null: public), and the 2xx statuses it documents. */
const ROUTES: Record<RouteId, { scope: Scope | null; ok: number[]; openapi: [string, string] }> = {
  'health.live': { scope: null, ok: [200], openapi: ['/health/live', 'get'] },
  'health.ready': { scope: null, ok: [200], openapi: ['/health/ready', 'get'] },
  'users.list': { scope: 'read', ok: [200], openapi: ['/api/v1/users', 'get'] },
  'users.create': { scope: 'write', ok: [201], openapi: ['/api/v1/users', 'post'] },
  'users.get': { scope: 'read', ok: [200], openapi: ['/api/v1/users/{user_id}', 'get'] },
  'users.delete': { scope: 'write', ok: [204], openapi: ['/api/v1/users/{user_id}', 'delete'] },
  'connections.list': { scope: 'read', ok: [200], openapi: ['/api/v1/users/{user_id}/connections', 'get'] },
  'connections.put': { scope: 'write', ok: [200, 201], openapi: ['/api/v1/users/{user_id}/connections/{provider}', 'put'] },
  'connections.delete': { scope: 'write', ok: [204], openapi: ['/api/v1/users/{user_id}/connections/{provider}', 'delete'] },
  'keys.list': { scope: 'admin', ok: [200], openapi: ['/api/v1/api-keys', 'get'] },
  'keys.create': { scope: 'admin', ok: [201], openapi: ['/api/v1/api-keys', 'post'] },
  'keys.delete': { scope: 'admin', ok: [204], openapi: ['/api/v1/api-keys/{id}', 'delete'] },
};
const RANK: Record<KeyClass, number> = { invalid: 0, read: 1, write: 2, admin: 3 };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The README's times: UTC, `Z`, milliseconds only when not zero; RFC 3339 (four-digit years). */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const API_KEY_ANYWHERE = /wck_[A-Za-z0-9_-]{43}/g;
const CONNECTION_FIELDS = ['id', 'user_id', 'provider', 'provider_user_id', 'provider_username', 'scope', 'status', 'last_synced_at', 'created_at', 'updated_at'];
const USER_FIELDS = ['id', 'external_user_id', 'email', 'created_at', 'updated_at'];
const LISTED_KEY_FIELDS = ['id', 'name', 'prefix', 'scopes', 'expires_at', 'last_used_at', 'revoked_at', 'created_at'];
const CREATED_KEY_FIELDS = ['id', 'name', 'prefix', 'scopes', 'expires_at', 'created_at', 'key'];

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

type Problems = string[];

function exactKeys(value: unknown, keys: string[], at: string, problems: Problems): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${at} is not an object`);
    return false;
  }
  const actual = Object.keys(value).sort();
  const expected = [...keys].sort();
  if (actual.join() !== expected.join()) problems.push(`${at} has fields [${actual}], expected exactly [${expected}]`);
  return true;
}

function checkString(value: unknown, at: string, problems: Problems, { nullable = false, pattern }: { nullable?: boolean; pattern?: RegExp } = {}) {
  if (value === null && nullable) return;
  if (typeof value !== 'string') problems.push(`${at} is ${JSON.stringify(value)}, not a string${nullable ? ' or null' : ''}`);
  else if (pattern && !pattern.test(value)) problems.push(`${at} is ${JSON.stringify(value)}, which does not match ${pattern}`);
}

function checkTime(value: unknown, at: string, problems: Problems, nullable = false) {
  checkString(value, at, problems, { nullable, pattern: TIME });
  if (typeof value === 'string' && TIME.test(value)) {
    if (Number.isNaN(Date.parse(value))) problems.push(`${at} is ${value}, not a real time`);
    if (value.endsWith('.000Z')) problems.push(`${at} is ${value}: zero milliseconds are written`);
  }
}

function checkEnum(value: unknown, allowed: readonly string[], at: string, problems: Problems) {
  if (typeof value !== 'string' || !allowed.includes(value)) problems.push(`${at} is ${JSON.stringify(value)}, not one of ${allowed.join('|')}`);
}

function checkConnection(value: unknown, at: string, problems: Problems) {
  if (!exactKeys(value, CONNECTION_FIELDS, at, problems)) return;
  checkString(value.id, `${at}.id`, problems, { pattern: UUID });
  checkString(value.user_id, `${at}.user_id`, problems, { pattern: UUID });
  checkEnum(value.provider, PROVIDERS, `${at}.provider`, problems);
  checkString(value.provider_user_id, `${at}.provider_user_id`, problems, { nullable: true });
  checkString(value.provider_username, `${at}.provider_username`, problems, { nullable: true });
  checkString(value.scope, `${at}.scope`, problems, { nullable: true });
  checkEnum(value.status, STATUSES, `${at}.status`, problems);
  checkTime(value.last_synced_at, `${at}.last_synced_at`, problems, true);
  checkTime(value.created_at, `${at}.created_at`, problems);
  checkTime(value.updated_at, `${at}.updated_at`, problems);
}

function checkUser(value: unknown, at: string, problems: Problems) {
  if (!exactKeys(value, USER_FIELDS, at, problems)) return;
  checkString(value.id, `${at}.id`, problems, { pattern: UUID });
  checkString(value.external_user_id, `${at}.external_user_id`, problems, { nullable: true });
  checkString(value.email, `${at}.email`, problems, { nullable: true });
  checkTime(value.created_at, `${at}.created_at`, problems);
  checkTime(value.updated_at, `${at}.updated_at`, problems);
}

function checkApiKey(value: unknown, at: string, problems: Problems, created: boolean) {
  if (!exactKeys(value, created ? CREATED_KEY_FIELDS : LISTED_KEY_FIELDS, at, problems)) return;
  checkString(value.id, `${at}.id`, problems, { pattern: UUID });
  checkString(value.name, `${at}.name`, problems);
  checkString(value.prefix, `${at}.prefix`, problems);
  if (!Array.isArray(value.scopes) || value.scopes.length === 0) problems.push(`${at}.scopes is not a non-empty array`);
  else value.scopes.forEach((s, i) => checkEnum(s, SCOPES, `${at}.scopes[${i}]`, problems));
  checkTime(value.expires_at, `${at}.expires_at`, problems, true);
  checkTime(value.created_at, `${at}.created_at`, problems);
  if (created) {
    checkString(value.key, `${at}.key`, problems, { pattern: /^wck_[A-Za-z0-9_-]{43}$/ });
    // The prefix shows no part of the key: it is made from the key's SHA-256 hash.
    if (typeof value.key === 'string' && value.prefix !== `sha256:${createHash('sha256').update(value.key).digest('hex').slice(0, 8)}`) {
      problems.push(`${at}.prefix is not made from the key's hash`);
    }
  } else {
    checkTime(value.last_used_at, `${at}.last_used_at`, problems, true);
    checkTime(value.revoked_at, `${at}.revoked_at`, problems, true);
  }
}

// ---------------------------------------------------------------------------------------------
// The routes a URL reaches, as Fastify routes it
// ---------------------------------------------------------------------------------------------

interface Route {
  id: RouteId;
  params: (string | undefined)[];
  query: URLSearchParams;
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Which route a request reaches (inject normalises the URL as WHATWG URL does), or null for none. */
function routeOf(method: string, url: string): Route | null {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://localhost');
  } catch {
    return null;
  }
  let path = parsed.pathname;
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1); // ignoreTrailingSlash
  const raw = path.split('/').slice(1);
  // Static parts match decoded (find-my-way decodes the path); parameters are decoded by the route.
  const s = raw.map((segment) => decode(segment) ?? segment);
  const m = method === 'HEAD' ? 'GET' : method;
  const route = (id: RouteId, ...params: string[]): Route => ({ id, params: params.map(decode), query: parsed.searchParams });
  const nonEmpty = (x: string | undefined) => x !== undefined && x.length > 0;
  if (s.length === 2 && s[0] === 'health' && m === 'GET') {
    if (s[1] === 'live') return route('health.live');
    if (s[1] === 'ready') return route('health.ready');
  }
  if (s[0] !== 'api' || s[1] !== 'v1') return null;
  const [, , collection, , sub, , ...rest] = s;
  const [, , , id, , provider] = raw;
  if (rest.length > 0) return null;
  if (collection === 'users') {
    if (id === undefined) return m === 'GET' ? route('users.list') : m === 'POST' ? route('users.create') : null;
    if (!nonEmpty(id)) return null;
    if (sub === undefined) return m === 'GET' ? route('users.get', id) : m === 'DELETE' ? route('users.delete', id) : null;
    if (sub !== 'connections') return null;
    if (provider === undefined) return m === 'GET' ? route('connections.list', id) : null;
    if (!nonEmpty(provider)) return null;
    return m === 'PUT' ? route('connections.put', id, provider) : m === 'DELETE' ? route('connections.delete', id, provider) : null;
  }
  if (collection === 'api-keys' && sub === undefined) {
    if (id === undefined) return m === 'GET' ? route('keys.list') : m === 'POST' ? route('keys.create') : null;
    return nonEmpty(id) && m === 'DELETE' ? route('keys.delete', id) : null;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// State, placeholders, sending
// ---------------------------------------------------------------------------------------------

interface CreatedKey {
  id: string;
  key: string;
  cls: Scope;
  usable: boolean;
}

interface Exchange {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  payload?: string;
  keyClass: KeyClass;
  route: Route | null;
}

interface InjectResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

describe('fuzz: every route, generated requests', () => {
  let t: TestApp;
  const seededUsers: string[] = [];
  const createdUsers: string[] = [];
  const createdKeys: CreatedKey[] = [];
  const keys = { write: '', read: '', revoked: '' };
  /** Every API key secret that ever existed in this app, to look for in the logs. */
  const apiKeySecrets = new Set<string>([ADMIN_KEY]);
  const seedTokens: string[] = [];
  let lastCursor: string | null = null;

  /** What was sent and answered, for the console. */
  const stats = {
    total: 0,
    byStatus: {} as Record<number, number>,
    byRoute: {} as Record<string, Record<number, number>>,
    undocumented: {} as Record<string, number>,
  };
  const openapi = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };

  const MACRO = /\{(user|keyid|uuid|cursor|repeat|nest|keys)(?::([^{}]*))?\}/g;

  /** Replaces the placeholders (see fuzz-arbitraries.ts) with what they stand for now. */
  function expand(text: string): string {
    return text.replace(MACRO, (_whole, name: string, arg = '') => {
      const [a, b] = arg.split(':');
      switch (name) {
        case 'user': {
          const i = Number(b);
          if (a === 'created') return createdUsers.length > 0 ? createdUsers[i % createdUsers.length] : randomUUID();
          const id = seededUsers[i % seededUsers.length];
          return a === 'upper' ? id.toUpperCase() : id;
        }
        case 'keyid':
          return createdKeys.length > 0 ? createdKeys[Number(b) % createdKeys.length].id : randomUUID();
        case 'uuid':
          return a === 'upper' ? randomUUID().toUpperCase() : randomUUID();
        case 'cursor':
          return lastCursor ?? Buffer.from(seededUsers[0]).toString('base64url');
        case 'repeat': {
          const at = arg.lastIndexOf(':');
          return arg.slice(0, at).repeat(Number(arg.slice(at + 1)));
        }
        case 'nest': {
          const n = Number(b);
          return a === 'arr' ? `${'['.repeat(n)}1${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
        }
        case 'keys':
          return Array.from({ length: Number(a) }, (_, i) => `"k${i}":0`).join(',');
        default:
          return _whole;
      }
    });
  }

  function resolveKey(ref: KeyRef): { value?: string | string[]; cls: KeyClass } {
    switch (ref.kind) {
      case 'admin':
        return { value: ADMIN_KEY, cls: 'admin' };
      case 'write':
      case 'read':
        return { value: keys[ref.kind], cls: ref.kind };
      case 'revoked':
        return { value: keys.revoked, cls: 'invalid' };
      case 'none':
        return { cls: 'invalid' };
      case 'created': {
        const usable = createdKeys.filter((k) => k.usable);
        if (usable.length === 0) return { value: ADMIN_KEY, cls: 'admin' };
        const key = usable[ref.index % usable.length];
        return { value: key.key, cls: key.cls };
      }
      case 'literal': {
        const one = (v: string) => (v === '{admin}' ? ADMIN_KEY : expand(v));
        return { value: Array.isArray(ref.value) ? ref.value.map(one) : one(ref.value), cls: 'invalid' };
      }
    }
  }

  function resolve(req: FuzzRequest): Exchange {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.map(expand) : expand(value);
    const key = resolveKey(req.key);
    delete headers['x-api-key'];
    if (key.value !== undefined) headers['x-api-key'] = key.value;
    let payload: string | undefined;
    if (req.body) {
      payload = req.body.payload === undefined ? undefined : expand(req.body.payload);
      const contentType = req.body.contentType === undefined ? (payload === undefined ? undefined : 'application/json') : req.body.contentType;
      if (contentType !== undefined && contentType !== null) headers['content-type'] = contentType;
      if (req.body.contentLength !== undefined) headers['content-length'] = req.body.contentLength;
    }
    const url = expand(req.url);
    return { method: req.method, url, headers, payload, keyClass: key.cls, route: routeOf(req.method, url) };
  }

  const clip = (text: string, max = 600) => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);

  function describeExchange(x: Exchange, res: InjectResponse): string {
    // The test's own keys by name (the admin key is the harness's fixed ADMIN_KEY).
    let headers = JSON.stringify(x.headers);
    for (const [name, value] of Object.entries(keys)) if (value) headers = headers.split(value).join(`<the ${name} key>`);
    for (const k of createdKeys) headers = headers.split(k.key).join(`<created ${k.cls} key${k.usable ? '' : ', revoked'}>`);
    return [
      `request:  ${x.method} ${clip(x.url, 300)}  [key: ${x.keyClass}, route: ${x.route?.id ?? 'none'}]`,
      `  headers: ${clip(headers, 400)}`,
      ...(x.payload === undefined ? [] : [`  body:    ${clip(JSON.stringify(x.payload), 600)}`]),
      `response: ${res.statusCode} ${String(res.headers['content-type'] ?? '')}`,
      `  body:    ${clip(res.body, 600)}`,
    ].join('\n');
  }

  function count(x: Exchange, status: number) {
    stats.total++;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    const name = x.route?.id ?? (x.method === 'GET' || x.method === 'POST' || x.method === 'PUT' || x.method === 'DELETE' ? 'no route' : `no route (${x.method})`);
    const byRoute = (stats.byRoute[name] ??= {});
    byRoute[status] = (byRoute[status] ?? 0) + 1;
    if (x.route && status >= 400 && status < 500 && x.method !== 'HEAD') {
      const [path, method] = ROUTES[x.route.id].openapi;
      if (!openapi.paths[path]?.[method]?.responses[String(status)]) {
        const k = `${method.toUpperCase()} ${path} ${status}`;
        stats.undocumented[k] = (stats.undocumented[k] ?? 0) + 1;
      }
    }
  }

  /** Every rule a response must keep, as a list of what it broke. */
  function problemsWith(x: Exchange, res: InjectResponse): Problems {
    const problems: Problems = [];
    const status = res.statusCode;
    const head = x.method === 'HEAD';

    // `GET /` sends a browser to the API docs; dot segments (`/health/%2e%2e`) can resolve to `/`.
    if (status === 302 && res.headers.location === '/docs' && (x.method === 'GET' || head)) return problems;
    // Never a 5xx; only 2xx and 4xx.
    if (!((status >= 200 && status < 300) || (status >= 400 && status < 500))) problems.push(`status ${status} is neither 2xx nor 4xx`);

    // No token and no API key, in the body or a header (the new key in its own creation response aside).
    const text = `${res.body}\n${JSON.stringify(res.headers)}`;
    for (const mark of [FUZZ_TOKEN_MARK, SEED_TOKEN_MARK]) if (text.includes(mark)) problems.push(`the response holds a provider token (${mark}…)`);
    if (text.includes(ADMIN_KEY)) problems.push('the response holds the admin API key');
    let ownKey: string | undefined;
    if (x.route?.id === 'keys.create' && status === 201) {
      try {
        ownKey = (JSON.parse(res.body) as { key?: string }).key;
      } catch {
        // The shape check reports it.
      }
    }
    for (const match of text.match(API_KEY_ANYWHERE) ?? []) {
      if (match !== ownKey) problems.push(`the response holds an API key (${match.slice(0, 12)}…)`);
    }

    // Authentication and scope.
    const needed = x.route ? ROUTES[x.route.id].scope : null;
    if (x.route && needed) {
      const allowed = RANK[x.keyClass] >= RANK[needed];
      if (!allowed && status >= 200 && status < 300) problems.push(`a ${x.keyClass} key got ${status} on a route that needs ${needed}`);
      if (allowed && (status === 401 || status === 403)) problems.push(`a valid ${x.keyClass} key got ${status} on a route that needs ${needed}`);
    }

    // A HEAD response goes out without its body (Node drops it; inject may not): an empty one is right.
    if (head && res.body === '') {
      if (status >= 200 && status < 300 && status !== 200) problems.push(`HEAD answered ${status}`);
      return problems;
    }

    if (status >= 400 && status < 500) {
      if (!/^application\/json/.test(String(res.headers['content-type']))) problems.push(`an error's content-type is ${String(res.headers['content-type'])}`);
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch {
        problems.push('an error body is not JSON');
        return problems;
      }
      if (exactKeys(body, ['detail'], 'the error', problems)) {
        if (typeof body.detail !== 'string' || body.detail.length === 0) problems.push('the error detail is not a non-empty string');
      }
      return problems;
    }
    if (status < 200 || status >= 300) return problems;

    // A 2xx: a real route, a status it documents, and exactly its documented body.
    if (!x.route) {
      problems.push(`${status} from a URL that is no route`);
      return problems;
    }
    const route = x.route;
    if (!ROUTES[route.id].ok.includes(status)) problems.push(`${route.id} answered ${status}, documented: ${ROUTES[route.id].ok}`);
    if (status === 204) {
      if (res.body !== '') problems.push('a 204 has a body');
      return problems;
    }
    if (!/^application\/json/.test(String(res.headers['content-type']))) problems.push(`content-type is ${String(res.headers['content-type'])}`);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      problems.push('the body is not JSON');
      return problems;
    }
    const userParam = route.params[0]?.toLowerCase();
    switch (route.id) {
      case 'health.live':
        if (JSON.stringify(body) !== '{"status":"ok"}') problems.push('the body is not {"status":"ok"}');
        break;
      case 'health.ready': {
        if (exactKeys(body, ['status', 'info'], 'the body', problems)) {
          const db = (body.info as { database?: { status?: unknown } } | null)?.database;
          if (body.status !== 'ok' || db?.status !== 'up') problems.push('the body does not say ok / database up');
        }
        break;
      }
      case 'users.create':
      case 'users.get':
        checkUser(body, 'the user', problems);
        if (route.id === 'users.get' && (body as { id?: unknown }).id !== userParam) problems.push('the user is not the one asked for');
        break;
      case 'users.list': {
        if (!exactKeys(body, ['data', 'next_cursor'], 'the page', problems)) break;
        if (!Array.isArray(body.data)) {
          problems.push('data is not an array');
          break;
        }
        body.data.forEach((u, i) => checkUser(u, `data[${i}]`, problems));
        checkString(body.next_cursor, 'next_cursor', problems, { nullable: true });
        const ids = body.data.map((u) => (u as { id: string }).id);
        if (ids.some((id, i) => i > 0 && ids[i - 1] >= id)) problems.push('users are not in id order');
        const limits = route.query.getAll('limit');
        const limit = limits.length === 1 && /^[0-9]+$/.test(limits[0].trim()) ? Number(limits[0]) : limits.length === 0 ? 50 : undefined;
        if (limit !== undefined && body.data.length > limit) problems.push(`${body.data.length} users for limit ${limit}`);
        break;
      }
      case 'connections.list': {
        if (!Array.isArray(body)) {
          problems.push('the body is not an array');
          break;
        }
        body.forEach((c, i) => checkConnection(c, `[${i}]`, problems));
        const list = body as { user_id: string; provider: string; status: string; last_synced_at: string | null }[];
        if (list.some((c) => c.user_id !== userParam)) problems.push("a connection is not the user's");
        if (new Set(list.map((c) => c.provider)).size !== list.length) problems.push('a provider is listed twice');
        for (const name of ['status', 'provider'] as const) {
          const values = route.query.getAll(name);
          if (values.length === 1 && list.some((c) => c[name] !== values[0])) problems.push(`?${name}=${values[0]} let others through`);
        }
        // Most recently synced first, never-synced last, ties by provider name.
        const ordered = [...list].sort(
          (p, q) =>
            (p.last_synced_at === null ? 1 : 0) - (q.last_synced_at === null ? 1 : 0) ||
            (q.last_synced_at ? Date.parse(q.last_synced_at) : 0) - (p.last_synced_at ? Date.parse(p.last_synced_at) : 0) ||
            (p.provider < q.provider ? -1 : p.provider > q.provider ? 1 : 0),
        );
        if (ordered.some((c, i) => c !== list[i])) problems.push('connections are not in the documented order');
        break;
      }
      case 'connections.put':
        checkConnection(body, 'the connection', problems);
        if ((body as { user_id?: unknown }).user_id !== userParam || (body as { provider?: unknown }).provider !== route.params[1]) {
          problems.push('the connection is not the one put');
        }
        break;
      case 'keys.list':
        if (!Array.isArray(body)) problems.push('the body is not an array');
        else body.forEach((k, i) => checkApiKey(k, `[${i}]`, problems, false));
        break;
      case 'keys.create':
        checkApiKey(body, 'the key', problems, true);
        break;
      default:
        problems.push(`${route.id} answered ${status} with a body`);
    }
    return problems;
  }

  /** Keeps track of what a successful request created or removed. */
  function remember(x: Exchange, res: InjectResponse) {
    if (res.statusCode < 200 || res.statusCode >= 300 || !x.route || x.method === 'HEAD') return;
    const body = res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
    switch (x.route.id) {
      case 'users.create':
        createdUsers.push(body.id as string);
        break;
      case 'users.delete': {
        const i = createdUsers.indexOf(x.route.params[0]?.toLowerCase() ?? '');
        if (i >= 0) createdUsers.splice(i, 1);
        break;
      }
      case 'users.list':
        if (typeof body.next_cursor === 'string') lastCursor = body.next_cursor;
        break;
      case 'keys.create': {
        const scopes = body.scopes as Scope[];
        const cls = scopes.includes('admin') ? 'admin' : scopes.includes('write') ? 'write' : 'read';
        const expires = body.expires_at === null ? Infinity : Date.parse(body.expires_at as string);
        apiKeySecrets.add(body.key as string);
        // A key that could expire during the run is not used to authenticate.
        createdKeys.push({ id: body.id as string, key: body.key as string, cls, usable: expires > Date.now() + 3_600_000 });
        break;
      }
      case 'keys.delete':
        for (const k of createdKeys) if (k.id === x.route.params[0]?.toLowerCase()) k.usable = false;
        break;
      default:
    }
  }

  async function inject(x: { method: string; url: string; headers: Record<string, string | string[]>; payload?: string }): Promise<InjectResponse> {
    const res = await t.app.getHttpAdapter().getInstance().inject({
      method: x.method as 'GET',
      url: x.url,
      headers: x.headers,
      ...(x.payload === undefined ? {} : { payload: x.payload }),
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  /** Sends one generated request and checks its response; throws, describing both, if it broke a rule. */
  async function exchange(req: FuzzRequest): Promise<void> {
    const x = resolve(req);
    const res = await inject(x);
    count(x, res.statusCode);
    const problems = problemsWith(x, res);
    if (problems.length > 0) throw new Error(`${problems.join('; ')}\n${describeExchange(x, res)}`);
    remember(x, res);
  }

  async function property(name: string, arbitrary: fc.Arbitrary<FuzzRequest>, numRuns: number, seed: number): Promise<void> {
    const before = stats.total;
    const started = Date.now();
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, (req) => exchange(req)),
        { seed, numRuns },
      );
    } finally {
      console.log(`fuzz[${name}]: seed ${seed}, ${stats.total - before} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  // ---------------------------------------------------------------------------------------------

  async function setup(method: string, url: string, body?: unknown, key = ADMIN_KEY): Promise<Record<string, unknown>> {
    const res = await inject({
      method,
      url,
      headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
  }

  beforeAll(async () => {
    t = await startTestApp();
    console.log(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays it), scale ${SCALE}`);
    for (const scope of ['write', 'read'] as const) {
      const created = await setup('POST', '/api/v1/api-keys', { name: `fuzz-${scope}`, scopes: [scope] });
      keys[scope] = created.key as string;
      apiKeySecrets.add(keys[scope]);
    }
    const revoked = await setup('POST', '/api/v1/api-keys', { name: 'fuzz-revoked', scopes: ['admin'] });
    keys.revoked = revoked.key as string;
    apiKeySecrets.add(keys.revoked);
    await setup('DELETE', `/api/v1/api-keys/${revoked.id as string}`);

    // Users with connections holding known tokens, in every status.
    const token = () => {
      const value = `${SEED_TOKEN_MARK}${randomBytes(24).toString('base64url')}`;
      seedTokens.push(value);
      return value;
    };
    for (let i = 0; i < 4; i++) {
      const user = await setup('POST', '/api/v1/users', { external_user_id: `seed-ext-${i}`, email: `seed${i}@example.com` });
      const id = user.id as string;
      seededUsers.push(id);
      await setup('PUT', `/api/v1/users/${id}/connections/garmin`, {
        access_token: token(),
        refresh_token: token(),
        provider_user_id: `garmin-${i}`,
        scope: 'ACTIVITY_EXPORT HEALTH_EXPORT',
        last_synced_at: '2024-03-15T10:30:00Z',
      });
      await setup('PUT', `/api/v1/users/${id}/connections/strava`, { access_token: token(), token_expires_at: '2020-01-01T00:00:00Z' });
      await setup('PUT', `/api/v1/users/${id}/connections/polar`, { access_token: token(), refresh_token: token(), status: 'revoked' });
      await setup('PUT', `/api/v1/users/${id}/connections/oura`, { access_token: token(), refresh_token: token() });
      await setup('DELETE', `/api/v1/users/${id}/connections/oura`, undefined, keys.write);
    }
  });

  afterAll(async () => {
    console.log(`fuzz: by route and status: ${JSON.stringify(stats.byRoute)}`);
    if (Object.keys(stats.undocumented).length > 0) {
      console.log(`fuzz: 4xx statuses the OpenAPI document does not list (informational): ${JSON.stringify(stats.undocumented)}`);
    }
    await t?.close();
  });

  it('keeps every rule on generated requests to the users routes: GET/POST /api/v1/users, GET/DELETE /api/v1/users/{id}', async () => {
    await property('users', usersRequest, runs(2_400), SEED);
  }, 180_000);

  it('keeps every rule on generated requests to the connections routes: GET /api/v1/users/{id}/connections, PUT/DELETE …/connections/{provider}', async () => {
    await property('connections', connectionsRequest, runs(3_400), SEED + 1);
  }, 180_000);

  it('keeps every rule on generated requests to the API-key routes: GET/POST /api/v1/api-keys, DELETE /api/v1/api-keys/{id}', async () => {
    await property('api-keys', apiKeysRequest, runs(1_600), SEED + 2);
  }, 180_000);

  it('keeps every rule on any method on any path: wrong methods, unknown paths, /health/live and /health/ready', async () => {
    await property('methods-and-paths', methodsAndPathsRequest, runs(2_000), SEED + 3);
  }, 180_000);

  it('keeps every rule on malformed URLs: bad percent-escapes, over-long parameters, raw Unicode, dot segments', async () => {
    await property('raw-urls', rawUrlRequest, runs(800), SEED + 4);
  }, 180_000);

  it('writes no token and no API key into any log line, whatever the requests', async () => {
    // Every request above has been logged once this one's line is there.
    const id = `fuzz-final-${randomBytes(6).toString('hex')}`;
    await inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': id } });
    for (let i = 0; i < 100 && !t.logs.some((line) => line.includes(id)); i++) await sleep(20);

    console.log(`fuzz: ${stats.total} requests, by status: ${JSON.stringify(stats.byStatus)}`);

    const secrets = [ADMIN_KEY, ...seedTokens, TOKEN_KEY.toString('base64'), TOKEN_KEY.toString('hex')];
    // The last TAIL characters of each key's base64url (no part of a key is ever shown).
    const TAIL = 31;
    const keyTails = new Set([...apiKeySecrets].filter((k) => k.startsWith('wck_')).map((k) => k.slice(-TAIL)));
    const anyKey = new RegExp(API_KEY_ANYWHERE.source);
    expect(t.logs.length).toBeGreaterThan(stats.total / 2);
    const leaks: string[] = [];
    for (const line of t.logs) {
      const leak =
        [FUZZ_TOKEN_MARK, SEED_TOKEN_MARK].some((mark) => line.includes(mark)) ||
        anyKey.test(line) ||
        secrets.some((secret) => line.includes(secret)) ||
        (line.match(/[A-Za-z0-9_-]{31,}/g) ?? []).some((run) => {
          for (let i = 0; i + TAIL <= run.length; i++) if (keyTails.has(run.slice(i, i + TAIL))) return true;
          return false;
        });
      if (leak) leaks.push(line.slice(0, 1000));
    }
    expect(leaks, `${leaks.length} log lines hold a token or an API key`).toEqual([]);
  }, 60_000);
});
