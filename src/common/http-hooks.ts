import { BadRequestException, Injectable, type OnModuleInit, UnsupportedMediaTypeException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fastifyTrustProxy, type TrustProxy } from '../config/app.config.js';
import { bodyProblem, clientErrorHandler, frameworkErrorHandler } from './client-errors.js';
import { entitySerializerHook } from './entity-serializer.js';
import { requestId, requestLogHook } from './logging.js';
import { pageSecurityHeaders, securityHeaders } from './security-headers.js';

/** The largest request body read: 1 MiB (Fastify's default too). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What adapterOptions() reads from the configuration. */
export interface AdapterLimits {
  trustProxy: TrustProxy;
  requestTimeoutMs: number;
}

/**
 * The options of the FastifyAdapter, which only its constructor takes: the body limit, which
 * proxies may set the client address, how long a request may take to arrive, and the API's error
 * shape for what Node's HTTP parser and Fastify's router reject before any hook runs. Also the
 * request id: the caller's X-Request-Id when it is sane, else a new UUID. The standalone service
 * builds its adapter with them (createApp); a host application may too: `new
 * FastifyAdapter(adapterOptions(config))`. Without them a host keeps Fastify's defaults there, and
 * WearableConnectionsModule's hooks still apply.
 */
export function adapterOptions(limits: AdapterLimits) {
  return {
    frameworkErrors: frameworkErrorHandler(securityHeaders()),
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: fastifyTrustProxy(limits.trustProxy),
    // A request whose headers and body have not all arrived within REQUEST_TIMEOUT_MS gets a 408 (see
    // clientErrorHandler) and its connection is closed; headers alone are bounded the same way. Node
    // looks for such requests every connectionsCheckingInterval (30 s by default).
    requestTimeout: limits.requestTimeoutMs,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, limits.requestTimeoutMs),
    },
    clientErrorHandler,
    requestIdHeader: false as const,
    genReqId: requestId,
    routerOptions: { maxParamLength: 2048, ignoreTrailingSlash: true },
    // No Express-style middleware is used (request logging is a Fastify hook), so no @fastify/middie.
    skipMiddie: true,
  };
}

/** Swagger UI's pages and assets under /docs, which get helmet's page headers rather than the API's. */
export function isApiDocsPage(url: string): boolean {
  return url.startsWith('/docs') && (url.length === 5 || url[5] === '/' || url[5] === '?');
}

/**
 * The safety nets of every response, registered on the application's Fastify instance when the
 * module initialises, so that any application importing WearableConnectionsModule has them, not only
 * the one createApp builds:
 *
 * - onRequest: the security headers (helmet's, for data; Swagger UI's pages under /docs get helmet's
 *   page defaults) and X-Request-Id;
 * - preValidation: the body rules (depth, width, NUL characters), before any validator walks a body;
 * - preSerialization: @Exclude() applied to any class instance that reaches a response;
 * - onResponse: the request log line;
 * - JSON as the only body read (text/plain and form bodies get a 415; Withings' notices alone are
 *   read form-encoded), and an empty JSON body read as no body.
 *
 * Nest registers its routes before it calls onModuleInit; Fastify works out each route's hooks when
 * it gets ready, so hooks added here apply to every route, Nest's and those added later alike. They
 * are Fastify's callback hooks rather than async ones: no promise per hook per request.
 */
@Injectable()
export class HttpSafetyNets implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    // An application context without HTTP (a script, a worker): nothing to protect.
    if (!adapter) return;
    const fastify = adapter.getInstance() as FastifyInstance | undefined;
    if (typeof fastify?.addHook !== 'function' || typeof fastify.addContentTypeParser !== 'function') {
      throw new Error('WearableConnectionsModule needs the Fastify adapter: NestFactory.create(AppModule, new FastifyAdapter())');
    }
    readJsonOnly(fastify);
    const security = securityHeaders();
    const pageSecurity = pageSecurityHeaders();
    fastify.addHook('onRequest', (request, reply, done) => {
      reply.headers(isApiDocsPage(request.url) ? pageSecurity : security).header('X-Request-Id', request.id);
      done();
    });
    fastify.addHook('preValidation', (request, _reply, done) => {
      const problem = bodyProblem(request.body);
      done(problem ? new BadRequestException(problem) : undefined);
    });
    fastify.addHook('preSerialization', entitySerializerHook());
    fastify.addHook('onResponse', requestLogHook());
  }
}

/** The route of the providers' notices (ProviderNoticesController), the one that may read a form body. */
export const PROVIDER_NOTICES_ROUTE = 'webhooks/providers/:provider/:token';

const FORM = 'application/x-www-form-urlencoded';

/**
 * JSON is the only body this API reads: anything else gets a 415 instead of reaching validation as a
 * string or a form. Fastify's JSON parser (secure-json-parse, refusing __proto__ and
 * constructor.prototype; bad JSON is a 400) stays, except that an empty body is no body: many clients
 * send `Content-Type: application/json` on a DELETE. It replaces whichever JSON parser is there
 * (Fastify's, or the one Nest adds unless the application is created with `bodyParser: false`).
 *
 * The one exception is Withings' notices (POST /webhooks/providers/withings/{token}), which Withings
 * posts form-encoded and cannot be asked to send otherwise: there a form is read into an object of
 * strings (readForm). Everywhere else a form gets the 415 it would get without a parser (a URL no route
 * serves, its 404), once the body has been read within the same 1 MiB limit; the body rules apply to
 * the form as to JSON.
 */
function readJsonOnly(fastify: FastifyInstance): void {
  for (const type of ['text/plain', FORM]) {
    if (fastify.hasContentTypeParser(type)) fastify.removeContentTypeParser(type);
  }
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else parseJson(request, body as string, done);
  });
  fastify.addContentTypeParser(FORM, { parseAs: 'string' }, (request, body, done) => {
    if (request.is404) return done(null, undefined);
    if (!isWithingsNotice(request)) return done(new UnsupportedMediaTypeException());
    const form = readForm(body as string);
    if (typeof form === 'string') done(new BadRequestException(form), undefined);
    else done(null, form);
  });
}

/** Whether the request is a POST to Withings' notices, by its route and its `provider` (as the controller reads them). */
function isWithingsNotice(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  return (
    request.method === 'POST' &&
    route !== undefined &&
    route.endsWith(`/${PROVIDER_NOTICES_ROUTE}`) &&
    (request.params as Record<string, string | undefined>).provider === 'withings'
  );
}

/**
 * A form body as an object of strings (URLSearchParams' decoding); a field twice, or a `__proto__`
 * field (refused in JSON too), is a problem, returned as the 400's detail.
 */
function readForm(body: string): Record<string, string> | string {
  const entries = [...new URLSearchParams(body)];
  const names = new Set<string>();
  for (const [name] of entries) {
    if (name === '__proto__') return 'The request body must not have a __proto__ field';
    if (names.has(name)) return `The request body has the field ${JSON.stringify(name.slice(0, 100))} more than once`;
    names.add(name);
  }
  return Object.fromEntries(entries);
}
