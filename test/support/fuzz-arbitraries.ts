/**
 * Generators for test/fuzz.e2e-spec.ts: requests to every route, as compact templates.
 *
 * A generated request is plain data (method, URL, headers, body text) in which a few placeholders
 * stand for what only exists at run time, or would make the counterexample unreadable:
 *
 *   {user:seeded:N}   the id of seeded user N (mod the number seeded)      {user:upper:N}  the same, upper case
 *   {user:created:N}  the id of a user the fuzz created (a random UUID until there is one)
 *   {keyid:created:N} the id of an API key the fuzz created (a random UUID until there is one)
 *   {uuid:new}        a fresh random UUID                                  {cursor}        the last next_cursor seen
 *   {uuid:upper}      a fresh random UUID in upper case                    {keys:N}        N distinct JSON members "kI":0
 *   {repeat:T:N}      the text T repeated N times (huge values)           {nest:arr:N} / {nest:obj:N}  1 nested N deep
 *
 * The X-API-Key is symbolic too (`key`): `admin`, `write`, `read`, `revoked`, `created:N`, or a literal.
 */
import fc from 'fast-check';

export const PROVIDERS = ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings', 'coros'] as const;
export const STATUSES = ['active', 'revoked', 'expired'] as const;
export const SCOPES = ['read', 'write', 'admin'] as const;

/** Every token-like string the fuzz sends starts with this; no response and no log line may ever hold it. */
export const FUZZ_TOKEN_MARK = 'fztok_';
/** The seeded connections' tokens start with this. */
export const SEED_TOKEN_MARK = 'sdtok_';

export type KeyRef =
  | { kind: 'admin' | 'write' | 'read' | 'revoked' | 'none' }
  | { kind: 'created'; index: number }
  | { kind: 'literal'; value: string | string[] };

export interface FuzzRequest {
  method: string;
  /** Path and query, already percent-encoded (placeholders aside). */
  url: string;
  key: KeyRef;
  /** Extra headers; a value that is an array is a header sent twice. */
  headers: Record<string, string | string[]>;
  /** The raw body, if any, and its framing. */
  body?: FuzzBody;
}

export interface FuzzBody {
  payload?: string;
  /** undefined: application/json when there is a payload; null: no Content-Type at all. */
  contentType?: string | string[] | null;
  /** A Content-Length that need not match the payload. */
  contentLength?: string;
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/** Percent-encodes a path segment or query component as its UTF-8 bytes (a lone surrogate goes as U+FFFD, as on the wire). */
export function enc(value: string): string {
  return encodeURIComponent(value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
}

/** SQL and JSON injection, path tricks, and strings that tend to break parsers, encoders and databases. */
export const INJECTIONS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '"; DROP TABLE connections; --',
  "1; SELECT pg_sleep(5) --",
  "' UNION SELECT access_token, refresh_token, NULL FROM connections --",
  "') OR ('a'='a",
  "admin'--",
  '$1',
  '$$ $$',
  "E'\\x00'",
  '%',
  '_',
  '\\',
  "\\'",
  "''",
  'NULL',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '{"$ne": null}',
  '{"$gt": ""}',
  '"},{"id":"',
  '\\"',
  '"',
  '}',
  ']',
  '{}',
  '[]',
  '{"__proto__":{"admin":true}}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '<script>alert(1)</script>',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '#{7*7}',
  '../../../../etc/passwd',
  '..%2f..%2f',
  '%00',
  '%2e%2e',
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\r\nX-Injected: 1',
  '\u202e',
  '\ufeff',
  '\u2028',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '😀',
  '𝕏',
  'Z̤͔ͧ̑̓',
  '١٢٣',
  'ＡＢＣ',
  'ß',
  'İ',
  '\t',
  ' ',
  '',
  'garmin\u0000',
  'GARMIN',
  'garmin ',
  'Garmin',
  'garmın',
  'strava,garmin',
  'active\u0000',
  'ACTIVE',
  ' active',
];

const controlChar = fc.integer({ min: 0, max: 31 }).map((c) => String.fromCharCode(c));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Injection strings, any Unicode, control characters, lone surrogates, and mixtures of them. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: controlChar, minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: loneSurrogate, minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...INJECTIONS), fc.string({ unit: 'binary', maxLength: 8 }))
      .map((parts) => parts.join('')),
  },
);

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64urlChar = fc.constantFrom(...B64URL.split(''));
const randomBase64url = (min: number, max: number) => fc.string({ unit: b64urlChar, minLength: min, maxLength: max });

/** A token a provider might issue, recognisable by FUZZ_TOKEN_MARK; sometimes at or over the 16 KiB cap. */
export const fuzzToken: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: randomBase64url(16, 120).map((s) => FUZZ_TOKEN_MARK + s) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(randomBase64url(10, 40), randomBase64url(10, 80), randomBase64url(20, 43))
      .map(([h, p, s]) => `${FUZZ_TOKEN_MARK}eyJ${h}.eyJ${p}.${s}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(16_384, 16_385, 40_000)
      .map((length) => `${FUZZ_TOKEN_MARK}{repeat:T:${length - FUZZ_TOKEN_MARK.length}}`),
  },
);

/** An API key that is not one: the right format with random bits, a near miss, or any string. */
export const wrongApiKey: fc.Arbitrary<string> = fc.oneof(
  randomBase64url(43, 43).map((s) => `wck_${s}`),
  fc.constantFrom('test-admin-key-0123456789abcdeF', 'TEST-ADMIN-KEY-0123456789ABCDEF', 'test-admin-key-0123456789abcde', 'wck_', "' OR '1'='1"),
  fuzzToken.filter((t) => !t.includes('{')),
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constant('{repeat:k:300}'),
);

// ---------------------------------------------------------------------------------------------
// Values of every type
// ---------------------------------------------------------------------------------------------

/** A JSON value of the wrong type for a string field. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

const OFFSETS = ['Z', 'Z', 'z', '+00:00', '-00:00', '+05:30', '-14:00', '+14:00', '-23:59', '+2359', '+05'];

/** ISO 8601 times: mostly valid, some with offsets, some subtly or plainly wrong. */
export const isoTime: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        fc.constantFrom(...OFFSETS),
      )
      .map(([d, offset]) => d.toISOString().replace(/Z$/, offset)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '2024-03-15T10:30:00Z',
      '2024-03-15T10:30:00',
      '2024-03-15',
      '2024-02-30T00:00:00Z',
      '2024-03-15T25:00:00Z',
      '2024-03-15T10:30:00+25:00',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00+14:00',
      '+275760-09-13T00:00:00Z',
      '1970-01-01T00:00:00Z',
      '2024-03-15T10:30:00.123456789Z',
      '2024-W11-5T10:30:00Z',
      '2024-075T10:30:00Z',
      '2024-03-15T10Z',
      '2024-03-15T10:30Z',
      '2024-03-15T10:30:00,5Z',
      '2024-03-15T10:30:00+05',
      '9999-12-31T23:59:59Z',
      '9999-12-31T23:59:59-14:00',
      'now',
      '1710498600',
    ),
  },
);

/** A field's value: valid most of the time, else nasty, the wrong type, or (for some fields) absurdly long. */
function field<T>(valid: fc.Arbitrary<T>, ...others: fc.Arbitrary<unknown>[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 12, arbitrary: valid },
    { weight: 1, arbitrary: nastyString },
    { weight: 1, arbitrary: wrongType },
    ...others.map((arbitrary) => ({ weight: 1, arbitrary })),
  );
}

/** Fields no body accepts; token-like ones carry fuzz tokens, which must not come back or reach a log. */
const extraFields: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  {
    weight: 2,
    arbitrary: fc.record(
      { access_token: fuzzToken, refresh_token: fuzzToken, token: fuzzToken, key: wrongApiKey, password: fuzzToken },
      { requiredKeys: [] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.dictionary(
      fc.oneof(fc.constantFrom('admin', 'is_admin', 'user_id', 'created_at', 'updated_at', 'revoked_at', 'Id', 'ID', 'id '), fc.string({ maxLength: 12 })),
      fc.oneof(nastyString, wrongType),
      { minKeys: 1, maxKeys: 3 },
    ),
  },
);

function withExtras(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(base, extraFields).map(([b, extra]) => ({ ...extra, ...b }));
}

const shortText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });

export const userBodyObject = withExtras(
  fc.record(
    {
      id: field(
        fc.constant('{uuid:new}'),
        fc.nat().map((i) => `{user:seeded:${i}}`),
        fc.constant('{uuid:upper}'),
        fc.uuid(),
        fc.uuid().map((u) => `{${u}}`),
        fc.uuid().map((u) => u.replace(/-/g, '')),
      ),
      external_user_id: field(
        shortText.map((s) => `ext-${s}`),
        fc.constantFrom('seed-ext-0', 'seed-ext-1'),
        fc.constantFrom('', '{repeat:e:255}', '{repeat:e:256}'),
      ),
      email: field(fc.emailAddress(), fc.constantFrom('', 'a@b', '@', 'x@{repeat:y:320}.com', 'john@example.com\u0000')),
    },
    { requiredKeys: [] },
  ),
);

export const apiKeyBodyObject = withExtras(
  fc.record(
    {
      name: field(shortText, fc.constantFrom('', '{repeat:n:100}', '{repeat:n:101}')),
      scopes: field(
        fc.subarray([...SCOPES], { minLength: 1 }),
        fc.constantFrom([], ['read', 'read'], ['root'], 'admin', [['admin']], ['read', 'write', 'admin', 'read'], ['ADMIN'], [null]),
      ),
      expires_at: field(isoTime, fc.constant(null)),
    },
    { requiredKeys: ['name', 'scopes'] },
  ),
);

export const connectionBodyObject = withExtras(
  fc.record(
    {
      access_token: field(fuzzToken, fc.constant('')),
      refresh_token: field(fuzzToken, fc.constant(null), fc.constant('')),
      token_expires_at: field(isoTime, fc.constant(null)),
      provider_user_id: field(fc.string({ maxLength: 20 }), fc.constant(null), fc.constantFrom('{repeat:p:255}', '{repeat:p:256}')),
      provider_username: field(shortText, fc.constant(null), fc.constantFrom('{repeat:u:255}', '{repeat:u:256}')),
      scope: field(fc.constantFrom('ACTIVITY_EXPORT HEALTH_EXPORT', 'read', 'activity:read_all,profile:read_all'), fc.constant(null), fc.constantFrom('{repeat:s:2048}', '{repeat:s:2049}')),
      status: field(fc.constantFrom(...STATUSES), fc.constantFrom('paused', 'Active', 'active ', '')),
      last_synced_at: field(isoTime, fc.constant(null)),
    },
    { requiredKeys: ['access_token'] },
  ),
);

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

const JSON_CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
  'application/json; charset=utf-16',
  'application/json, text/plain',
  ['application/json', 'application/json'],
  ['application/json', 'text/plain'],
];
const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'text/html',
  'application/javascript',
  'application/vnd.api+json',
  'application/json-patch+json',
  'application/jsonx',
  '*/*',
  '',
  'garbage',
  ';;;',
  ['text/plain', 'application/json'],
];

/** Ways to break the JSON text of a body. */
function malformed(json: string): fc.Arbitrary<string> {
  const at = fc.nat({ max: json.length });
  return fc.oneof(
    at.map((i) => json.slice(0, i)),
    fc.tuple(at, fc.constantFrom(',', '}', '{', '"', '\\', '\u0000', 'x', '\n', ':', '[', "'", '\ud800')).map(([i, c]) => json.slice(0, i) + c + json.slice(i)),
    fc.constant(json.replace(/"/g, "'")),
    fc.constant(`${json}garbage`),
    fc.constant(`${json}${json}`),
    fc.constant(json.replace(/}$/, ',}')),
    fc.constant(`/* comment */${json}`),
    fc.constant(json.replace(/:/, ': NaN, "x":')),
    fuzzToken.map((t) => `{"access_token": "${t}" x}`),
    fuzzToken.map((t) => `{"access_token": ${t}}`),
    fuzzToken.map((t) => `{"access_token": "${t}", }`),
    fuzzToken.map((t) => `{"access_token":"x","access_token":{"$ne":"${t}"}}`),
    fc.constantFrom(
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '{"a":1,"a":2}',
      '{',
      '}',
      '[',
      '"',
      'nul',
      'undefined',
      '{"a":"\\u00"}',
      '{"a":"\\ud800"}',
      '{"a":1e999}',
      '{"a":-}',
      '\u0000',
      '{"a":"b"}\u0000',
    ),
  );
}

/** Nesting past (or just within) the 32-level limit, at the top or inside a field. */
const deepPayload: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.integer({ min: 28, max: 40 }), fc.constant(10_000)), fc.constantFrom('arr', 'obj'), fc.constantFrom('top', 'field'))
  .map(([depth, shape, where]) => {
    const nested = `{nest:${shape}:${depth}}`;
    return where === 'top' ? nested : `{"name":"x","scope":${nested},"access_token":${nested}}`;
  });

/**
 * Bodies around and over the 1 MiB limit, and wide ones, built only when sent. (Within the limit,
 * arrays and objects stay at some thousands of members: validating 90,000 unknown fields takes the
 * service seconds, which would make this test slow rather than find more.)
 */
const hugePayload: fc.Arbitrary<string> = fc.oneof(
  fc
    .constantFrom(900_000, 1_048_576 - 40, 1_048_577, 3_000_000)
    .map((size) => `{"scope":"{repeat:a:${size}}","name":"{repeat:b:10}","access_token":"{repeat:c:${size >> 4}}"}`),
  fc.constantFrom(5_000, 600_000).map((n) => `{"scopes":[{repeat:1,:${n}}1],"access_token":[{repeat:1,:${n}}1]}`),
  fc.constantFrom(3_000, 120_000).map((n) => `{"name":"n","access_token":"x",{keys:${n}}}`),
);

/** A body for a route that takes `object`: mostly JSON of it, else every way a body goes wrong. */
export function bodyFor(object: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<FuzzBody> {
  const json = object.map((o) => JSON.stringify(o));
  return fc.oneof(
    { weight: 24, arbitrary: json.map((payload) => ({ payload })) },
    { weight: 2, arbitrary: fc.tuple(json, fc.constantFrom(...JSON_CONTENT_TYPES)).map(([payload, contentType]) => ({ payload, contentType })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(json, fc.constantFrom(...WRONG_CONTENT_TYPES), fc.boolean())
        .map(([payload, contentType, form]) => ({
          payload: form ? new URLSearchParams(JSON.parse(payload) as Record<string, string>).toString() : payload,
          contentType,
        })),
    },
    { weight: 1, arbitrary: json.map((payload) => ({ payload, contentType: null })) },
    { weight: 1, arbitrary: fc.constantFrom<FuzzBody>({}, { payload: '' }, { contentType: 'application/json' }, { payload: '', contentType: null }) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)), fc.constantFrom<unknown>([{}], [[]], 'x', 0))
        .map((v) => ({ payload: JSON.stringify(v) ?? 'null' })),
    },
    { weight: 3, arbitrary: json.chain(malformed).map((payload) => ({ payload })) },
    { weight: 2, arbitrary: deepPayload.map((payload) => ({ payload })) },
    { weight: 1, arbitrary: hugePayload.map((payload) => ({ payload })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(json, fc.oneof(fc.integer({ min: -3, max: 3 }).map(String), fc.constantFrom('abc', '-1', '1e3', '99999999999', '')))
        .map(([payload, delta]) => ({
          payload,
          contentLength: /^-?[0-3]$/.test(delta) && delta !== '-1' ? String(Buffer.byteLength(payload) + Number(delta)) : delta,
        })),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/** Mostly the admin key; else every other kind of key, none, a duplicated one, or a wrong one. */
export const keyRef: fc.Arbitrary<KeyRef> = fc.oneof(
  { weight: 30, arbitrary: fc.constant<KeyRef>({ kind: 'admin' }) },
  { weight: 3, arbitrary: fc.constant<KeyRef>({ kind: 'write' }) },
  { weight: 3, arbitrary: fc.constant<KeyRef>({ kind: 'read' }) },
  { weight: 2, arbitrary: fc.nat().map<KeyRef>((index) => ({ kind: 'created', index })) },
  { weight: 1, arbitrary: fc.constant<KeyRef>({ kind: 'revoked' }) },
  { weight: 2, arbitrary: fc.constant<KeyRef>({ kind: 'none' }) },
  { weight: 2, arbitrary: wrongApiKey.map<KeyRef>((value) => ({ kind: 'literal', value })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(['{admin}', '{admin}'], ['{admin}', 'wrong'], ['wrong', '{admin}'], ['', '{admin}'], '')
      .map<KeyRef>((value) => ({ kind: 'literal', value })),
  },
);

const headerValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fuzzToken.filter((t) => !t.includes('{')).map((t) => `Bearer ${t}`) },
  { weight: 1, arbitrary: fc.constantFrom('{repeat:h:4000}', '{repeat:h:7900}') },
);

const headerName = fc.oneof(
  fc.constantFrom(
    'x-request-id',
    'accept',
    'accept-encoding',
    'accept-language',
    'authorization',
    'cookie',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    'x-real-ip',
    'forwarded',
    'user-agent',
    'origin',
    'referer',
    'if-none-match',
    'if-modified-since',
    'range',
    'x-http-method-override',
    'x-original-url',
    'host',
    'connection',
    'te',
  ),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 20 }).map((s) => `x-${s}`),
);

/** Headers besides the key: absent mostly, else odd, repeated, long, or carrying a token. */
export const extraHeaders: fc.Arbitrary<Record<string, string | string[]>> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({}) },
  {
    weight: 2,
    arbitrary: fc.dictionary(headerName, fc.oneof({ weight: 4, arbitrary: headerValue }, { weight: 1, arbitrary: fc.tuple(headerValue, headerValue) }), {
      minKeys: 1,
      maxKeys: 4,
    }),
  },
  {
    weight: 1,
    arbitrary: fuzzToken
      .filter((t) => !t.includes('{'))
      .map((t) => ({ authorization: `Bearer ${t}`, cookie: `session=${t}; refresh_token=${t}` })),
  },
  { weight: 1, arbitrary: fc.constant({ 'x-request-id': 'fuzz-request-id' }) },
);

// ---------------------------------------------------------------------------------------------
// Path and query parts
// ---------------------------------------------------------------------------------------------

/** A UUID with one thing wrong with it. */
const brokenUuid: fc.Arbitrary<string> = fc
  .tuple(fc.uuid(), fc.nat({ max: 35 }), fc.constantFrom('g', 'z', 'G', '-', ' ', '\u0000', 'é', '０', '\n', '%', '/', '.'))
  .chain(([u, i, c]) =>
    fc.constantFrom(
      u.slice(0, i) + u.slice(i + 1),
      u.slice(0, i) + c + u.slice(i),
      u.slice(0, i) + c + u.slice(i + 1),
      u.replace(/-/g, ''),
      `{${u}}`,
      `urn:uuid:${u}`,
      `${u} `,
      ` ${u}`,
      `${u}\n`,
      `${u}${u}`,
      `${u}0`,
      u.replace(/-/g, '_'),
    ),
  );

/** A user id segment: seeded, created or unknown users, case variants, and every kind of non-UUID. */
export const userIdSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.nat().map((i) => `{user:seeded:${i}}`) },
  { weight: 1, arbitrary: fc.nat().map((i) => `{user:upper:${i}}`) },
  { weight: 2, arbitrary: fc.nat().map((i) => `{user:created:${i}}`) },
  { weight: 2, arbitrary: fc.oneof(fc.uuid(), fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')) },
  { weight: 4, arbitrary: brokenUuid.map(enc) },
  { weight: 3, arbitrary: nastyString.filter((s) => s.length > 0).map(enc) },
  { weight: 1, arbitrary: fc.integer({ min: 37, max: 2000 }).map((n) => `{repeat:a:${n}}`) },
);

/** A user id segment for DELETE: never a seeded user, so that the other properties keep their data. */
export const deletableUserIdSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((i) => `{user:created:${i}}`) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: brokenUuid.map(enc) },
  { weight: 2, arbitrary: nastyString.filter((s) => s.length > 0).map(enc) },
);

export const providerSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...PROVIDERS) },
  { weight: 1, arbitrary: fc.constantFrom(...PROVIDERS).map((p) => p.toUpperCase()) },
  { weight: 1, arbitrary: fc.constantFrom('nokia', 'apple', 'fitbit2', 'garmin.com', 'providers', 'connections').map(enc) },
  { weight: 2, arbitrary: nastyString.filter((s) => s.length > 0).map(enc) },
  { weight: 1, arbitrary: fc.constantFrom(...PROVIDERS).chain((p) => fc.constantFrom(`${p}%00`, `${p}%20`, `%20${p}`, `${p}%0A`, `${p}%2F`, encodeURIComponent(`${p};`))) },
);

/** A query string of `pairs`, each value percent-encoded (or a placeholder). */
function query(pairs: [string, string][]): string {
  if (pairs.length === 0) return '';
  return `?${pairs.map(([k, v]) => `${enc(k)}=${v === '{cursor}' ? v : enc(v)}`).join('&')}`;
}

function filterValue(valid: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...valid).map((v) => v.toUpperCase()) },
    { weight: 2, arbitrary: nastyString },
  );
}

const unknownParam: fc.Arbitrary<[string, string]> = fc.tuple(
  fc.constantFrom('x', 'cache', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'status[]', 'provider[0]', 'user_id', 'limit', 'cursor', 'STATUS'),
  nastyString,
);

/** The connections list's query: ?status= and ?provider= (valid, wrong, repeated), and unknown parameters. */
export const connectionsQuery: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.constant('status'), filterValue(STATUSES)) },
      { weight: 3, arbitrary: fc.tuple(fc.constant('provider'), filterValue(PROVIDERS)) },
      { weight: 1, arbitrary: unknownParam },
    ),
    { maxLength: 3 },
  )
  .map(query);

/** The users list's query: ?limit= and ?cursor=, valid and not. */
export const usersQuery: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.tuple(
          fc.constant('limit'),
          fc.oneof(
            { weight: 4, arbitrary: fc.integer({ min: -5, max: 260 }).map(String) },
            { weight: 2, arbitrary: fc.constantFrom('1e2', '0x10', '1.5', '', ' 7', 'NaN', 'Infinity', '-0', '9'.repeat(400), '1,2', '2 0', '0b11', '+5') },
            { weight: 1, arbitrary: nastyString },
          ),
        ),
      },
      {
        weight: 3,
        arbitrary: fc.tuple(
          fc.constant('cursor'),
          fc.oneof(
            { weight: 3, arbitrary: fc.constant('{cursor}') },
            { weight: 2, arbitrary: fc.uuid().map((u) => Buffer.from(u).toString('base64url')) },
            { weight: 2, arbitrary: nastyString.map((s) => Buffer.from(s).toString('base64url')) },
            { weight: 1, arbitrary: fc.uuid().map((u) => Buffer.from(`${u}\u0000`).toString('base64url')) },
            { weight: 2, arbitrary: nastyString },
          ),
        ),
      },
      { weight: 1, arbitrary: unknownParam },
    ),
    { maxLength: 3 },
  )
  .map(query);

// ---------------------------------------------------------------------------------------------
// Requests, by route family
// ---------------------------------------------------------------------------------------------

function request(method: string, url: fc.Arbitrary<string>, body?: fc.Arbitrary<FuzzBody | undefined>): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({ url, key: keyRef, headers: extraHeaders, body: body ?? fc.constant(undefined) })
    .map(({ url: u, key, headers, body: b }) => ({ method, url: u, key, headers, ...(b ? { body: b } : {}) }));
}

/** Sometimes a body on a route that takes none. */
const strayBody: fc.Arbitrary<FuzzBody | undefined> = fc.oneof(
  { weight: 9, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: bodyFor(connectionBodyObject) },
);

const api = '/api/v1';

export const usersRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 3, arbitrary: request('GET', usersQuery.map((q) => `${api}/users${q}`), strayBody) },
  { weight: 4, arbitrary: request('POST', fc.constant(`${api}/users`), bodyFor(userBodyObject)) },
  { weight: 3, arbitrary: request('GET', userIdSegment.map((id) => `${api}/users/${id}`), strayBody) },
  { weight: 2, arbitrary: request('DELETE', deletableUserIdSegment.map((id) => `${api}/users/${id}`), strayBody) },
);

/** A PUT likely to succeed (a known user, a real provider, well-typed fields), so that 2xx bodies get checked too. */
const plausibleConnectionBody = fc.record(
  {
    access_token: fuzzToken,
    refresh_token: fc.oneof(fuzzToken, fc.constant(null)),
    token_expires_at: fc.oneof(isoTime, fc.constant(null)),
    provider_user_id: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(null)),
    provider_username: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), nastyString, fc.constant(null)),
    scope: fc.oneof(fc.string({ maxLength: 60 }), nastyString, fc.constant(null)),
    status: fc.constantFrom(...STATUSES),
    last_synced_at: fc.oneof(isoTime, fc.constant(null)),
  },
  { requiredKeys: ['access_token'] },
);

export const connectionsRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        user: fc.oneof(fc.nat().map((i) => `{user:seeded:${i}}`), fc.nat().map((i) => `{user:created:${i}}`)),
        provider: fc.constantFrom(...PROVIDERS),
        key: fc.constantFrom<KeyRef>({ kind: 'admin' }, { kind: 'write' }),
        body: plausibleConnectionBody.map((o) => JSON.stringify(o)),
      })
      .map(({ user, provider, key, body }) => ({
        method: 'PUT',
        url: `${api}/users/${user}/connections/${provider}`,
        key,
        headers: {},
        body: { payload: body },
      })),
  },
  {
    weight: 4,
    arbitrary: request('GET', fc.tuple(userIdSegment, connectionsQuery).map(([id, q]) => `${api}/users/${id}/connections${q}`), strayBody),
  },
  {
    weight: 5,
    arbitrary: request(
      'PUT',
      fc.tuple(userIdSegment, providerSegment).map(([id, p]) => `${api}/users/${id}/connections/${p}`),
      bodyFor(connectionBodyObject),
    ),
  },
  {
    weight: 2,
    arbitrary: request('DELETE', fc.tuple(userIdSegment, providerSegment).map(([id, p]) => `${api}/users/${id}/connections/${p}`), strayBody),
  },
);

const keyIdSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((i) => `{keyid:created:${i}}`) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: brokenUuid.map(enc) },
  { weight: 2, arbitrary: nastyString.filter((s) => s.length > 0).map(enc) },
);

export const apiKeysRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 2, arbitrary: request('GET', fc.constant(`${api}/api-keys`), strayBody) },
  { weight: 4, arbitrary: request('POST', fc.constant(`${api}/api-keys`), bodyFor(apiKeyBodyObject)) },
  { weight: 2, arbitrary: request('DELETE', keyIdSegment.map((id) => `${api}/api-keys/${id}`), strayBody) },
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL', 'COPY', 'PURGE'];

/** Every route's path, and paths next to them that are no route. */
const anyPath: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(`${api}/users`, `${api}/api-keys`, '/health/live', '/health/ready'),
  userIdSegment.map((id) => `${api}/users/${id}`),
  userIdSegment.map((id) => `${api}/users/${id}/connections`),
  fc.tuple(userIdSegment, providerSegment).map(([id, p]) => `${api}/users/${id}/connections/${p}`),
  keyIdSegment.map((id) => `${api}/api-keys/${id}`),
  fc.constantFrom(
    '/',
    '/api',
    '/api/v1',
    '/api/v1/',
    '/api/v2/users',
    '/api/v1/user',
    '/API/V1/USERS',
    '/api/v1/users/{user:seeded:0}/connection',
    '/api/v1/users/{user:seeded:0}/connections/garmin/extra',
    '/api/v1/users/{user:seeded:0}/connections/garmin/tokens',
    '/api/v1/users/{user:seeded:0}/tokens',
    '/api/v1/api-keys/{uuid:new}/rotate',
    '/api/v1/connections',
    '/health',
    '/health/',
    '/health/livez',
    '/health/ready/db',
    '/metrics',
    '/admin',
    '/.env',
    '/favicon.ico',
    '/index.html',
    '/api/v1/users/{user:seeded:0}/connections/garmin/../../../../api-keys',
  ),
  fc.array(nastyString.map(enc), { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
  fc.array(nastyString.map(enc), { minLength: 1, maxLength: 3 }).map((segments) => `${api}/${segments.join('/')}`),
);

/** Any method on any path: wrong methods on real routes, real and unknown paths, health probes. */
export const methodsAndPathsRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...METHODS), anyPath, fc.oneof(fc.constant(''), connectionsQuery, usersQuery), keyRef, extraHeaders, strayBody)
      .map(([method, path, q, key, headers, body]) => ({ method, url: path + q, key, headers, ...(body ? { body } : {}) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE'), fc.constantFrom('/health/live', '/health/ready'), usersQuery, keyRef, extraHeaders, strayBody)
      .map(([method, path, q, key, headers, body]) => ({ method, url: path + q, key, headers, ...(body ? { body } : {}) })),
  },
);

/**
 * URLs as a client could write them: bad percent-escapes, over-long parameters, raw Unicode and
 * spaces, dot segments, doubled slashes. (These go to the router before any route runs.)
 */
export const rawUrlRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom('GET', 'GET', 'PUT', 'DELETE', 'POST'),
    fc.constantFrom(`${api}/users/`, `${api}/users/{user:seeded:0}/connections/`, `${api}/users/{user:seeded:1}/connections?status=`, `${api}/api-keys/`, '/health/', `${api}/`),
    fc.oneof(
      fc.constantFrom('%', '%z', '%zz', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '%FF', '%00', '%2e%2e', '..', '.', '//', '\\', '%5C', '*', '%25', '?', '#', '&', '=', ';', '%3B'),
      fc.integer({ min: 2040, max: 5000 }).map((n) => `{repeat:a:${n}}`),
      fc.string({ unit: fc.constantFrom('a', 'é', '😀', ' ', '%', '/', '.', '-', '0'), minLength: 1, maxLength: 12 }),
    ),
    keyRef,
  )
  .map(([method, prefix, tail, key]) => ({ method, url: prefix + tail, key, headers: {} }));
