import 'reflect-metadata';
import { BadRequestException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule, type RuntimeConfig } from './app.module.js';
import { ApiKeysService } from './auth/api-keys.service.js';
import { bodyProblem, clientErrorHandler, frameworkErrorHandler } from './common/client-errors.js';
import { entitySerializerHook } from './common/entity-serializer.js';
import { requestId, requestLogHook } from './common/logging.js';
import { pageSecurityHeaders, securityHeaders } from './common/security-headers.js';
import { fastifyTrustProxy } from './config/app.config.js';
import { loadDemoData } from './database/demo-data.js';
import { Sql } from './database/sql.js';
import { serveApiDocs } from './openapi.js';

const MAX_BODY_BYTES = 1024 * 1024;

/** Builds the application on the given database: migrations applied, bootstrap key and demo data in place. */
export async function createApp(config: RuntimeConfig, logStream?: DestinationStream): Promise<NestFastifyApplication> {
  const security = securityHeaders();
  const pageSecurity = pageSecurityHeaders();
  const adapter = new FastifyAdapter({
    frameworkErrors: frameworkErrorHandler(security),
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // A request whose headers and body have not all arrived within REQUEST_TIMEOUT_MS gets a 408 (see
    // clientErrorHandler) and its connection is closed; headers alone are bounded the same way. Node
    // looks for such requests every connectionsCheckingInterval (30 s by default).
    requestTimeout: config.requestTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, config.requestTimeoutMs),
    },
    clientErrorHandler,
    requestIdHeader: false,
    genReqId: requestId,
    routerOptions: { maxParamLength: 2048, ignoreTrailingSlash: true },
    // No Express-style middleware is used (request logging is a Fastify hook), so no @fastify/middie.
    skipMiddie: true,
  });
  const fastify = adapter.getInstance();
  // JSON is the only body this API reads; anything else gets a 415 instead of reaching validation as a string.
  fastify.removeContentTypeParser('text/plain');
  // Fastify's JSON parser (secure-json-parse, refusing __proto__ and constructor.prototype; bad JSON is a 400),
  // except that an empty body is no body: many clients send `Content-Type: application/json` on a DELETE.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else parseJson(request, body as string, done);
  });
  // The hooks take Fastify's callback rather than being async: no promise per hook per request.
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

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logStream), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Fastify's own JSON parser stays; Nest's extra parsers (form bodies) are not wanted.
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  serveApiDocs(app);
  await app.init();
  await ensureApiKey(app.get(ApiKeysService), config.bootstrapApiKey, app.get(Logger));
  if (config.demoData && (await loadDemoData(app.get(Sql)))) {
    app.get(Logger).log('Loaded the spec\'s example user 550e8400-e29b-41d4-a716-446655440000 (DEMO_DATA)');
  }
  return app;
}

/** Swagger UI's pages and assets under /docs, which get helmet's page headers rather than the API's. */
function isApiDocsPage(url: string): boolean {
  return url.startsWith('/docs') && (url.length === 5 || url[5] === '/' || url[5] === '?');
}

/**
 * Registers BOOTSTRAP_API_KEY as an admin key; with none set and no key at all, makes one and prints it
 * once. Keys but no active admin key among them (all revoked or expired, BOOTSTRAP_API_KEY's too: a
 * revoked key stays revoked) is a warning saying how to get one back.
 */
async function ensureApiKey(apiKeys: ApiKeysService, bootstrapKey: string | undefined, logger: Logger): Promise<void> {
  if (bootstrapKey) {
    if (await apiKeys.register('bootstrap', bootstrapKey, ['admin'])) logger.log('Registered BOOTSTRAP_API_KEY as an admin key');
  } else if ((await apiKeys.count()) === 0) {
    const { key } = await apiKeys.create('generated at first start', ['admin']);
    // Written to the terminal once, outside the logger, so that no log pipeline keeps it.
    process.stdout.write(
      `\nNo API key existed, so an admin key was created. It is shown this once and stored only as a hash:\n\n` +
        `    ${key}\n\n` +
        `Send it in the X-API-Key header, e.g.\n` +
        `    curl -H "X-API-Key: ${key}" http://localhost:3000/api/v1/users\n\n`,
    );
    return;
  }
  if (!(await apiKeys.hasActiveAdminKey())) {
    logger.warn(
      'No active admin API key: each key is revoked, expired or without the admin scope' +
        (bootstrapKey ? ', the one in BOOTSTRAP_API_KEY included (a revoked key stays revoked)' : '') +
        '. To get one back, restart with BOOTSTRAP_API_KEY=<a new secret of 16+ characters>: it is registered as an admin key',
    );
  }
}
