import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type OperationObject,
  type PathItemObject,
  type PathsObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { API_KEY_SECURITY } from './common/api-docs.js';
import { loadBackgroundConfig } from './config/background.config.js';
import { loadWebhooksConfig } from './config/webhooks.config.js';
import { loadConnectConfig } from './config/connect.config.js';
import { loadProvidersConfig } from './config/providers.config.js';

const DESCRIPTION = `Which wearable providers (Garmin, Strava, Polar, Suunto, Whoop, Oura, Fitbit, Withings, Coros)
each user of a health app has connected.

Every route under /api/v1 needs an **X-API-Key** header; a key has scopes (\`read\`, \`write\`, \`admin\`;
write includes read, admin includes both). Each route names the scope it needs ("Scope: read"), also given as
\`x-required-scope\`. Every error is \`{"detail": "<message>"}\`.

Where the spec is silent:
- Times are ISO 8601 in UTC ending in Z; milliseconds appear only when not zero.
- Connections are listed most recently synced first, never-synced last, ties by provider name.
- An active connection whose access token lapsed with no refresh token reads as \`expired\` at once.
- Unknown query parameters are ignored; unknown body fields are rejected (400).
- Bodies are JSON objects only (415 otherwise), at most 1 MiB (413), nested at most 32 deep. An empty body
  is no body, with or without \`Content-Type: application/json\`. The one exception is Withings' notices, read
  form-encoded as Withings sends them.
- Requests are limited per API key (\`X-RateLimit-Limit\`, \`-Remaining\`, \`-Reset\` on each answer to a valid key) and, for failed
  authentication, per client address; past either limit, 429 with \`Retry-After\`.
- A database that is down or too slow answers 503 with \`Retry-After\`.`;

/** The tags, in the order the document lists them and their paths: the spec's endpoint first. */
const TAGS: [name: string, description: string][] = [
  ['connections', "Which providers a user has connected: the spec's endpoint, and managing connections"],
  ['users', 'The users of the health app'],
  ['api-keys', 'API keys (admin scope)'],
  ['connect', "The pages a user's browser opens to connect a provider, and the OAuth callbacks (public; reached through a connect session's url)"],
  ['health', 'Liveness and readiness probes (public)'],
];

/** The OpenAPI document of the running code; `openapi.json` at the repository root is a committed copy. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('wearable-connections')
    .setDescription(DESCRIPTION)
    .setVersion('1.0.0')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (wck_...)' }, API_KEY_SECURITY);
  for (const [name, description] of TAGS) builder.addTag(name, description);
  const document = SwaggerModule.createDocument(app, builder.build());
  showScopes(document);
  return { ...document, paths: inTagOrder(document.paths) };
}

/**
 * Writes each authenticated operation's scope into its description, which Swagger UI shows (it
 * does not show `x-required-scope`, which ApiKeyAuth() sets from the same @RequireScope()).
 */
function showScopes(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as (OperationObject & { 'x-required-scope'?: string })[]) {
      const scope = operation?.['x-required-scope'];
      if (!scope) continue;
      const line = `Scope: \`${scope}\``;
      operation.description = operation.description ? `${operation.description}\n\n${line}` : line;
    }
  }
}

/** The paths ordered by their operations' tag, in TAGS' order (stable within a tag). */
function inTagOrder(paths: PathsObject): PathsObject {
  const rank = (item: PathItemObject): number => {
    const tag = (Object.values(item) as OperationObject[]).find((operation) => operation?.tags?.length)?.tags?.[0];
    const index = TAGS.findIndex(([name]) => name === tag);
    return index < 0 ? TAGS.length : index;
  };
  return Object.fromEntries(Object.entries(paths).sort(([, a], [, b]) => rank(a) - rank(b)));
}

/** Swagger UI at /docs, the document at /docs/openapi.json, and `GET /` sends a browser there. */
export function serveApiDocs(app: INestApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: undefined,
    customSiteTitle: 'wearable-connections API',
    swaggerOptions: { persistAuthorization: false },
  });
  app.getHttpAdapter().get('/', (_request: unknown, reply: unknown) => app.getHttpAdapter().redirect(reply, 302, '/docs'));
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
      requestTimeoutMs: 30_000,
      logLevel: 'silent',
      providers: loadProvidersConfig({}),
      connect: loadConnectConfig({}),
      background: loadBackgroundConfig({}),
      webhooks: loadWebhooksConfig({}),
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
