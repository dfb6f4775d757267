import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_SECURITY } from './common/api-docs.js';

const DESCRIPTION = `Which wearable providers (Garmin, Strava, Polar, Suunto, Whoop, Oura, Fitbit, Withings, Coros)
each user of a health app has connected.

Every route under /api/v1 needs an **X-API-Key** header; a key has scopes (\`read\`, \`write\`, \`admin\`;
write includes read, admin includes both), shown on each route as \`x-required-scope\`. Every error is
\`{"detail": "<message>"}\`.

Where the spec is silent:
- Times are ISO 8601 in UTC ending in Z; milliseconds appear only when not zero.
- Connections are listed most recently synced first, never-synced last, ties by provider name.
- An active connection whose access token lapsed with no refresh token reads as \`expired\` at once.
- Unknown query parameters are ignored; unknown body fields are rejected (400).
- Bodies are JSON only (415 otherwise), at most 1 MiB (413), nested at most 32 deep.
- Requests are limited per API key and, for failed authentication, per client address (429 with Retry-After).`;

/** The OpenAPI document of the running code; `openapi.json` at the repository root is a committed copy. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('wearable-connections')
    .setDescription(DESCRIPTION)
    .setVersion('1.0.0')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (wck_...)' }, API_KEY_SECURITY)
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Swagger UI at /docs, the document at /docs/openapi.json. */
export function serveApiDocs(app: INestApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: undefined,
    customSiteTitle: 'wearable-connections API',
    swaggerOptions: { persistAuthorization: false },
  });
}

/**
 * The document without a database: the application is built in preview mode (modules and routes,
 * no providers started), so that `npm run openapi` and its test need nothing running.
 */
export async function generateOpenApiDocument(): Promise<OpenAPIObject> {
  const { NestFactory } = await import('@nestjs/core');
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const { AppModule } = await import('./app.module.js');
  const app = await NestFactory.create(
    AppModule.forRoot({
      databaseUrl: 'postgres://preview.invalid/preview',
      embedded: false,
      dbPoolSize: 1,
      dbConnectTimeoutMs: 1_000,
      dbStatementTimeoutMs: 1_000,
      demoData: false,
      tokenEncryptionKey: Buffer.alloc(32),
      tokenEncryptionKeysOld: [],
      rateLimitPerMinute: 1,
      authFailureLimitPerMinute: 1,
      trustProxy: false,
      logLevel: 'silent',
    }),
    new FastifyAdapter(),
    { preview: true, logger: false, abortOnError: false },
  );
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}
