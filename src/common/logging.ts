import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DynamicModule } from '@nestjs/common';
import type { FastifyRequest, onResponseHookHandler } from 'fastify';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { type DestinationStream, destination } from 'pino';
import type { LogLevel } from '../config/app.config.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Paths pino replaces with "[redacted]" wherever they appear. Request logs carry only method, URL and
 * address (no headers, no body), so this is the second line of defence, not the first.
 */
export const REDACTED_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
  '*.key',
  '*.token',
];

/** Query parameters whose values never reach a log: credentials, and OAuth's `code` and `state`. */
const SENSITIVE_QUERY_NAMES = new Set(['code', 'state', 'auth', 'authorization', 'sig', 'signature', 'session', 'pass', 'pwd']);
/** …and every parameter whose name ends in one of these (`api_key`, `key`, `id_token`, `client_secret`…). */
const SENSITIVE_QUERY_SUFFIX = /(key|token|secret|password|passwd|credentials?)$/;

function isSensitiveQueryName(raw: string): boolean {
  let name = raw;
  if (name.includes('%') || name.includes('+')) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // A malformed escape: judged as written.
    }
  }
  name = name.trim().toLowerCase();
  return SENSITIVE_QUERY_NAMES.has(name) || SENSITIVE_QUERY_SUFFIX.test(name);
}

/** A connect link's path carries its token: `/connect/{token}[/…]`. */
const CONNECT_LINK = /^\/connect\/[^/?#]*/i;

/** A provider webhook's path carries its secret token: `/webhooks/providers/{provider}/{token}`. */
const PROVIDER_WEBHOOK = /^(\/webhooks\/providers\/[^/?#]*\/)[^/?#]+/i;

/** The parameters of a route whose values are secrets: a connect link's token, a provider webhook's token. */
const SECRET_PARAMS = new Set([':token']);

/**
 * What a 256-bit secret looks like in a path (newSecret(): 43 base64url characters): exactly 43 such
 * characters between two others (or a segment's ends), as sent or once the segment's %-escapes are
 * decoded. Longer runs (a slug with a UUID in it) are not secrets of this service's shape.
 */
const SECRET_RUN = /(?:^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/;

/**
 * A path as a log line or an error may show it, secrets replaced with `[redacted]`:
 * - when `route` (the route Fastify matched, `request.routeOptions.url`) is given, the segments of its
 *   secret parameters (`:token`), however the path spelled the route (`/%63onnect/…`, `/connect/…/`);
 * - a connect link's token, for a path that starts `/connect/` in any case, routed or not, and a
 *   provider webhook's token (`/webhooks/providers/{provider}/{token}`) likewise;
 * - as a backstop, every segment that holds something shaped like a 256-bit secret (SECRET_RUN), so
 *   that a path no route serves (`//connect/{token}`, `/CONNECT/{token}`) does not show one.
 * Any other path is returned as it is: the request line is written for every request.
 */
export function redactPath(path: string, route?: string): string {
  if (route !== undefined && route.includes('/:')) path = redactRouteParams(path, route);
  if (path.length > 8 && (path[1] === 'c' || path[1] === 'C')) path = path.replace(CONNECT_LINK, '/connect/[redacted]');
  if (path.length > 8 && (path[1] === 'w' || path[1] === 'W')) path = path.replace(PROVIDER_WEBHOOK, '$1[redacted]');
  if (SECRET_RUN.test(path) || path.includes('%')) path = redactSecretSegments(path);
  return path;
}

/** Which segments of each route hold a secret parameter (null: none), worked out once per route. */
const secretSegmentsOf = new Map<string, number[] | null>();

/** The path with the segments that the route's secret parameters matched replaced; routes here have one parameter per segment. */
function redactRouteParams(path: string, route: string): string {
  let secret = secretSegmentsOf.get(route);
  if (secret === undefined) {
    const indexes = route.split('/').flatMap((segment, i) => (SECRET_PARAMS.has(segment) ? [i] : []));
    // Keys are the application's own routes (Fastify's matched pattern), so the map stays as small as they are few.
    secretSegmentsOf.set(route, (secret = indexes.length > 0 ? indexes : null));
  }
  if (secret === null) return path;
  const segments = path.split('/');
  for (const i of secret) if (i < segments.length) segments[i] = '[redacted]';
  return segments.join('/');
}

function redactSecretSegments(path: string): string {
  const segments = path.split('/');
  let changed = false;
  for (let i = 0; i < segments.length; i++) {
    if (SECRET_RUN.test(segments[i]) || (segments[i].includes('%') && SECRET_RUN.test(percentDecoded(segments[i])))) {
      segments[i] = '[redacted]';
      changed = true;
    }
  }
  return changed ? segments.join('/') : path;
}

/** The segment with each %-escape of an ASCII character decoded; never throws, whatever the escapes. */
function percentDecoded(segment: string): string {
  return segment.replace(/%([0-7][0-9A-Fa-f])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The URL as a log line may show it: the value of every sensitive query parameter (see
 * SENSITIVE_QUERY_NAMES) and every secret in the path (redactPath, with the matched `route` when there
 * is one) replaced with `[redacted]`, the rest as sent. A URL without a query is only parsed when its
 * path may hold a secret: the request line is written for every request.
 */
export function redactUrl(url: string, route?: string): string {
  const start = url.indexOf('?');
  if (start === -1) return redactPath(url, route);
  const query = url.slice(start + 1);
  const parts = query.split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const equals = parts[i].indexOf('=');
    const name = equals === -1 ? parts[i] : parts[i].slice(0, equals);
    if (equals !== -1 && isSensitiveQueryName(name)) {
      parts[i] = `${name}=[redacted]`;
      changed = true;
    }
  }
  return `${redactPath(url.slice(0, start), route)}?${changed ? parts.join('&') : query}`;
}

/**
 * The request id: the caller's X-Request-Id when it is sane, else a new UUID. Fastify assigns it
 * (see adapterOptions() in http-hooks.ts), and requestLogHook() logs the id Fastify put on the request.
 */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

const standardOutput = destination({ dest: 1, sync: false, minLength: 4096 });
const FLUSH_INTERVAL_MS = 1_000;
let flusher: NodeJS.Timeout | undefined;

/**
 * Writes out what the log buffer holds, at once. Called for the lines a person waits for (start-up,
 * shutdown) and before the process exits.
 */
export function flushLogs(): void {
  try {
    standardOutput.flushSync();
  } catch {
    // Nothing was ever written, so the stream never opened: nothing to flush.
  }
}

/**
 * Request lines are buffered (a write per line would cost the hot path dearly), but a line never
 * waits more than FLUSH_INTERVAL_MS to appear, however quiet the service is.
 */
function flushEverySecond(): void {
  flusher ??= setInterval(() => {
    try {
      standardOutput.flush();
    } catch {
      // Not opened yet, or a write is under way (which empties the buffer anyway).
    }
  }, FLUSH_INTERVAL_MS).unref();
}

/**
 * Structured JSON logs through nestjs-pino: the application's logger (`app.useLogger`) and the root
 * pino logger it builds from these pino-http options, with their level, redaction and serializers.
 *
 * nestjs-pino's per-request middleware is not mounted (`forRoutes: []`): it runs pino-http, which makes
 * child loggers for every request and serializes their bindings, and binds an AsyncLocalStorage
 * context, which on Node 20 puts promise hooks on every `await` in the process. Together they were
 * the largest single cost on the list endpoint (figures in bench/README.md). The request line is written by
 * requestLogHook() instead, through the same root logger, once per response.
 */
export function loggingModule(level: LogLevel, stream?: DestinationStream): DynamicModule {
  return LoggerModule.forRoot({
    forRoutes: [],
    pinoHttp: [
      {
        level,
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        // requestLogHook() logs plain objects; the serializers below still keep to these fields
        // whatever is logged under `req` or `res`.
        wrapSerializers: false,
        serializers: {
          req: (req: { id: string; method: string; url: string; remoteAddress?: string; ip?: string }) => ({
            id: req.id,
            method: req.method,
            url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
            remoteAddress: req.remoteAddress ?? req.ip,
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
      },
      // Buffered, written asynchronously: a synchronous write per request line costs the hot path
      // dearly (bench/README.md). What is buffered is written within a second, and at shutdown.
      stream ?? (flushEverySecond(), standardOutput),
    ],
  });
}

const passThrough = <T>(value: T): T => value;

/**
 * The route Fastify matched, for a URL that may spell a connect link or a provider webhook (`/connect/…`,
 * `/webhooks/…` in any case, or with %-escapes such as `/%63onnect/…`); undefined for any other, whose secrets redactPath() finds
 * by their shape. Fastify's `routeOptions` getter builds an object on every read, which the spec's
 * endpoint should not pay for on every request line.
 */
function matchedRouteIfNeeded(request: FastifyRequest): string | undefined {
  const url = request.url;
  const first = url.charCodeAt(1);
  return first === 99 || first === 67 || first === 119 || first === 87 || url.includes('%') ? request.routeOptions?.url : undefined;
}

/**
 * Fastify's onResponse hook that writes one line per request, `request completed` (level `error` for a
 * 5xx), with the request's id, method, URL and address, the status and the time taken in ms. It runs
 * for every response, those Fastify gives itself (404 route, 413, 415) included.
 *
 * The URL's secrets are redacted (redactUrl: sensitive query values, and secrets in the path, found
 * through the route Fastify matched and by their shape), parsing only a URL that may hold one.
 * The line is made of those fields only (no header, no body), and the id is either generated or
 * checked against REQUEST_ID: the redaction paths have nothing to match in it, and the serializers
 * nothing to drop. It is written through a child of nestjs-pino's root logger without the redaction
 * pass, which copies every logged object and cost the list endpoint about a tenth of its throughput,
 * and without copying req and res again. Every other log call keeps redaction and serializers.
 */
export function requestLogHook(): onResponseHookHandler {
  let root: PinoLogger['logger'] | undefined;
  let lines: PinoLogger['logger'] | undefined;
  return function logRequest(request, reply, done) {
    // nestjs-pino sets its root logger while the application starts.
    if (PinoLogger.root !== root) {
      root = PinoLogger.root;
      lines = root?.child({}, { redact: [], serializers: { req: passThrough, res: passThrough } });
    }
    const status = reply.statusCode;
    const level = status >= 500 ? 'error' : 'info';
    if (lines?.isLevelEnabled(level)) {
      lines[level](
        {
          req: { id: request.id, method: request.method, url: redactUrl(request.url, matchedRouteIfNeeded(request)), remoteAddress: request.ip },
          res: { statusCode: status },
          responseTime: Math.round(reply.elapsedTime),
        },
        'request completed',
      );
    }
    done();
  };
}
