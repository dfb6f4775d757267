import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer } from '@nestjs/core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { REQUIRED_SCOPE } from '../src/auth/require-scope.decorator.js';
import { IS_PUBLIC } from '../src/auth/public.decorator.js';
import { SCOPES } from '../src/auth/scopes.js';
import { isIsoTime } from '../src/common/iso-time.validator.js';
import { generateOpenApiDocument } from '../src/openapi.js';
import { httpHelpers } from './support/http-helpers.js';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COMMITTED_PATH = resolve(ROOT, 'openapi.json');
const SPEC_PATH = resolve(ROOT, 'docs/spec/list-user-connections.md');
const STALE = 'openapi.json is out of date: run `npm run openapi` and commit the result';

type Schema = {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: unknown;
  items?: Schema;
};
type Header = { required?: boolean; schema?: Schema };
type Response = { headers?: Record<string, Header>; content?: { 'application/json'?: { schema?: Schema; example?: unknown } } };
type Operation = {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  'x-required-scope'?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema }[];
  requestBody?: { required?: boolean; content: { 'application/json': { schema: Schema } } };
  responses: Record<string, Response>;
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  tags?: { name: string }[];
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, Schema> };
};

const RATE_LIMIT_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];
const ERROR_REF = { $ref: '#/components/schemas/Error' };

/** A JSON round trip: what a client reading the document sees (no undefined members). */
const asJson = <T>(value: unknown): T => JSON.parse(JSON.stringify(value)) as T;

interface DeclaredRoute {
  method: string;
  path: string;
  fastifyPath: string;
  /** The scope ApiKeyGuard requires (admin when the route names none); null for a public route. */
  scope: string | null;
}

/** Every route the application's controllers declare, as `get /api/v1/users/{user_id}`. */
function declaredRoutes(t: TestApp): DeclaredRoute[] {
  const routes: DeclaredRoute[] = [];
  for (const module of t.app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      const base: string = Reflect.getMetadata(PATH_METADATA, controller) ?? '';
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = controller.prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method: RequestMethod | undefined = Reflect.getMetadata(METHOD_METADATA, handler);
        const sub: string | undefined = Reflect.getMetadata(PATH_METADATA, handler);
        if (method === undefined || sub === undefined) continue;
        const fastifyPath = `/${[base, sub].map((part) => part.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/')}`;
        const isPublic = Reflect.getMetadata(IS_PUBLIC, handler) ?? Reflect.getMetadata(IS_PUBLIC, controller);
        routes.push({
          method: RequestMethod[method].toLowerCase(),
          path: fastifyPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
          fastifyPath,
          scope: isPublic ? null : (Reflect.getMetadata(REQUIRED_SCOPE, handler) ?? Reflect.getMetadata(REQUIRED_SCOPE, controller) ?? 'admin'),
        });
      }
    }
  }
  return routes;
}

/** The "Example Response" array of the spec (the first JSON block under its heading). */
function specExample(): unknown {
  const text = readFileSync(SPEC_PATH, 'utf8');
  const match = /## Example Response\s*```json\n(\[[\s\S]*?\n\])\n```/.exec(text);
  if (!match) throw new Error(`No "Example Response" array in ${SPEC_PATH}`);
  return JSON.parse(match[1]);
}

/** Every operation of the document, with its name (`put /api/v1/...`). */
function operationsOf(document: Document): { name: string; path: string; method: string; op: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ name: `${method} ${path}`, path, method, op })),
  );
}

/** A schema with its $ref followed. */
function resolved(document: Document, schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = document.components.schemas[name];
  if (!target) throw new Error(`${schema.$ref} does not resolve`);
  return resolved(document, target);
}

/** Every string schema inside `schema` (properties and items, followed), with where it is. */
function stringsIn(document: Document, schema: Schema, where: string): { where: string; schema: Schema }[] {
  const s = resolved(document, schema);
  if (s.type === 'string') return [{ where, schema: s }];
  if (s.type === 'array' && s.items) return stringsIn(document, s.items, `${where}[]`);
  return Object.entries(s.properties ?? {}).flatMap(([name, property]) => stringsIn(document, property, `${where}.${name}`));
}

/** The request body schema of an operation, resolved, if it has one. */
function bodySchema(document: Document, op: Operation): Schema | undefined {
  const schema = op.requestBody?.content['application/json']?.schema;
  return schema ? resolved(document, schema) : undefined;
}

describe('OpenAPI document', () => {
  let t: TestApp;
  let committed: Document;
  const { call, createUser } = httpHelpers(() => t);
  beforeAll(async () => {
    committed = JSON.parse(readFileSync(COMMITTED_PATH, 'utf8')) as Document;
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the committed openapi.json is what the code generates', async () => {
    const generated = asJson<Document>(await generateOpenApiDocument());
    expect(committed, STALE).toEqual(generated);
  });

  it('the committed openapi.json is what the running app serves at /docs/openapi.json', async () => {
    const res = await request(t.server).get('/docs/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(committed, STALE).toEqual(res.body);
  });

  it('documents every route of the application, and no route it does not have', () => {
    const routes = declaredRoutes(t);
    expect(routes.length).toBeGreaterThan(0);
    const fastify = t.app.getHttpAdapter().getInstance();
    for (const route of routes) {
      // The declared route is really served, under the path computed here.
      expect(fastify.hasRoute({ method: route.method.toUpperCase() as 'GET', url: route.fastifyPath }), `${route.method} ${route.fastifyPath} served`).toBe(true);
    }
    const documented = Object.entries(committed.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual(routes.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('documents the API key scheme: X-API-Key in a header', () => {
    expect(committed.components.securitySchemes).toEqual({
      'api-key': expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
    });
  });

  it('every /api/v1 route requires the X-API-Key scheme and documents 401, 403 and 429 as {"detail"} errors, 429 with Retry-After', () => {
    const operations = operationsOf(committed).filter(({ path }) => path.startsWith('/api/v1/'));
    expect(operations.length).toBeGreaterThan(0);
    for (const { name, op } of operations) {
      expect(op.security, `${name} security`).toEqual([{ 'api-key': [] }]);
      for (const status of ['401', '403', '429']) {
        const content = op.responses[status]?.content?.['application/json'];
        expect(content, `${name} documents ${status}`).toBeDefined();
        expect(content?.schema, `${name} ${status} schema`).toEqual(ERROR_REF);
        expect(content?.example, `${name} ${status} example`).toEqual({ detail: expect.any(String) });
      }
      expect(op.responses['429'].headers?.['Retry-After'], `${name} 429 Retry-After`).toMatchObject({ required: true, schema: { type: 'integer' } });
    }
  });

  it('every authenticated route declares the X-RateLimit-* headers on each of its 2xx answers, and the service sends them', async () => {
    const operations = operationsOf(committed).filter(({ op }) => op.security);
    expect(operations.length).toBeGreaterThan(0);
    for (const { name, op } of operations) {
      const successes = Object.keys(op.responses).filter((status) => status.startsWith('2'));
      expect(successes.length, `${name} documents a 2xx`).toBeGreaterThan(0);
      for (const status of successes) {
        for (const header of RATE_LIMIT_HEADERS) {
          expect(op.responses[status].headers?.[header], `${name} ${status} declares ${header}`).toMatchObject({
            required: true,
            schema: { type: 'integer' },
          });
        }
      }
    }
    // What is declared is what arrives.
    const res = await request(t.server).get('/api/v1/users').set('X-API-Key', ADMIN_KEY);
    expect(res.status).toBe(200);
    for (const header of Object.keys(committed.paths['/api/v1/users'].get.responses['200'].headers ?? {})) {
      expect(res.headers[header.toLowerCase()], header).toMatch(/^\d+$/);
    }
  });

  it('each authenticated operation shows the scope the guard enforces, in its description and as x-required-scope', () => {
    const routes = declaredRoutes(t);
    for (const route of routes) {
      const op = committed.paths[route.path]?.[route.method];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      if (route.scope === null) {
        expect(op['x-required-scope'], `${route.method} ${route.path} is public`).toBeUndefined();
        continue;
      }
      expect(op['x-required-scope'], `${route.method} ${route.path}`).toBe(route.scope);
      expect(`${op.summary ?? ''}\n${op.description ?? ''}`, `${route.method} ${route.path} shows its scope`).toContain(`Scope: \`${route.scope}\``);
    }
    expect(routes.filter((route) => route.scope !== null).length).toBeGreaterThan(0);
  });

  it('every route that needs the database (every /api/v1 route, and readiness) documents 503 with Retry-After', () => {
    // The connect routes (a browser's) read their session too; a provider's notice is written as a job.
    const needDatabase = operationsOf(committed).filter(
      ({ name, path }) =>
        path.startsWith('/api/v1/') || path === '/health/ready' || path.startsWith('/connect/') || path.startsWith('/oauth/') || name.startsWith('post /webhooks/'),
    );
    // All but liveness and Strava's subscription validation (checked against the configuration alone).
    expect(needDatabase.length).toBe(operationsOf(committed).length - 2);
    for (const { name, op } of needDatabase) {
      const response = op.responses['503'];
      expect(response?.content?.['application/json']?.schema, `${name} documents 503`).toEqual(ERROR_REF);
      expect(response.headers?.['Retry-After'], `${name} 503 Retry-After`).toMatchObject({ required: true, schema: { type: 'integer' } });
    }
    // Liveness needs nothing but the process, and never answers 503.
    expect(committed.paths['/health/live'].get.responses['503']).toBeUndefined();
  });

  it('every route that reads a body (every method but GET: Fastify parses a DELETE body too) documents 413 and 415', () => {
    const reading = operationsOf(committed).filter(({ method }) => method !== 'get');
    expect(reading.filter(({ op }) => op.requestBody).length).toBe(6);
    for (const { name, op } of reading) {
      for (const status of ['413', '415']) {
        expect(op.responses[status]?.content?.['application/json']?.schema, `${name} documents ${status}`).toEqual(ERROR_REF);
      }
      expect(op.responses['415'].content?.['application/json']?.example).toEqual({ detail: 'Content-Type must be application/json' });
    }
  });

  it('every string in a request body or parameter has a maxLength (an enum bounds its own), and minLength <= maxLength', () => {
    const strings = operationsOf(committed).flatMap(({ name, op }) => [
      ...(op.parameters ?? []).flatMap((parameter) => (parameter.schema ? stringsIn(committed, parameter.schema, `${name} ${parameter.in} ${parameter.name}`) : [])),
      ...(op.requestBody ? stringsIn(committed, op.requestBody.content['application/json'].schema, `${name} body`) : []),
    ]);
    expect(strings.length).toBeGreaterThan(15);
    for (const { where, schema } of strings) {
      if (schema.enum) {
        expect(schema.enum.length, where).toBeGreaterThan(0);
        continue;
      }
      expect(schema.maxLength, `${where} has a maxLength`).toEqual(expect.any(Number));
      expect(Number.isInteger(schema.maxLength) && schema.maxLength! > 0, where).toBe(true);
      if (schema.minLength !== undefined) expect(schema.minLength, where).toBeLessThanOrEqual(schema.maxLength!);
    }
  });

  it('every request body is an object schema with additionalProperties: false, as validBody rejects unknown fields', () => {
    const bodies = operationsOf(committed).filter(({ op }) => op.requestBody);
    expect(bodies.length).toBe(6);
    for (const { name, op } of bodies) {
      const schema = bodySchema(committed, op)!;
      expect(schema.type, name).toBe('object');
      expect(schema.additionalProperties, `${name} additionalProperties`).toBe(false);
    }
  });

  it("documents scopes' item limits, limit as an integer, and times with the pattern IsIsoTime() applies", () => {
    const createKey = bodySchema(committed, committed.paths['/api/v1/api-keys'].post)!;
    expect(createKey.properties?.scopes).toMatchObject({
      type: 'array',
      minItems: 1,
      maxItems: SCOPES.length,
      uniqueItems: true,
      items: { type: 'string', enum: [...SCOPES] },
    });
    const limit = committed.paths['/api/v1/users'].get.parameters?.find((parameter) => parameter.name === 'limit');
    expect(limit?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 });

    const time = bodySchema(committed, committed.paths['/api/v1/users/{user_id}/connections/{provider}'].put)!.properties!.last_synced_at;
    const pattern = new RegExp(time.pattern!);
    const samples = [
      '2024-03-15T10:30:00Z', '2024-03-15T10:30Z', '2024-03-15t10:30:00.123456789+14:00', '9999-12-31T23:59:59.999999999-00:00',
      '2024-03-15T10:30:00', '2024-03-15 10:30:00Z', '2024-W11-5T10:30:00Z', '2024-03-15T10:30:00+05', '2024-03-15T10Z',
      '2024-03-15T10:30:00,5Z', '2024-03-15T10:30:00.1234567890Z', '',
    ];
    for (const sample of samples) {
      expect(pattern.test(sample), sample).toBe(isIsoTime(sample));
      if (isIsoTime(sample)) expect(sample.length, sample).toBeGreaterThanOrEqual(time.minLength!);
      if (isIsoTime(sample)) expect(sample.length, sample).toBeLessThanOrEqual(time.maxLength!);
    }
    expect(samples.filter(isIsoTime).map((sample) => sample.length)).toEqual(expect.arrayContaining([time.minLength, time.maxLength]));
  });

  it('names operations as camelCase verbs, each once', () => {
    const ids = Object.fromEntries(operationsOf(committed).map(({ name, op }) => [name, op.operationId]));
    expect(ids).toEqual({
      'get /api/v1/users/{user_id}/connections': 'listUserConnections',
      'put /api/v1/users/{user_id}/connections/{provider}': 'putUserConnection',
      'delete /api/v1/users/{user_id}/connections/{provider}': 'deleteUserConnection',
      'post /api/v1/users/{user_id}/connections/{provider}/refresh': 'refreshUserConnection',
      'get /api/v1/users/{user_id}/connections/{provider}/refresh-attempts': 'listRefreshAttempts',
      'get /webhooks/providers/{provider}/{token}': 'getProviderWebhookValidation',
      'post /webhooks/providers/{provider}/{token}': 'createProviderNotice',
      'get /api/v1/providers': 'listProviders',
      'post /api/v1/users/{user_id}/connect-sessions': 'createConnectSession',
      'get /api/v1/connect-sessions/{id}': 'getConnectSession',
      'get /connect/{token}': 'getConnectPage',
      'get /connect/{token}/{provider}': 'getConnectProviderPage',
      'get /connect/{token}/cancel': 'getConnectCancel',
      'get /oauth/{provider}/callback': 'getOAuthCallback',
      'post /api/v1/webhook-endpoints': 'createWebhookEndpoint',
      'get /api/v1/webhook-endpoints': 'listWebhookEndpoints',
      'get /api/v1/webhook-endpoints/{id}': 'getWebhookEndpoint',
      'patch /api/v1/webhook-endpoints/{id}': 'updateWebhookEndpoint',
      'delete /api/v1/webhook-endpoints/{id}': 'deleteWebhookEndpoint',
      'post /api/v1/webhook-endpoints/{id}/rotate-secret': 'rotateWebhookSecret',
      'post /api/v1/webhook-endpoints/{id}/test': 'testWebhookEndpoint',
      'get /api/v1/webhook-endpoints/{id}/deliveries': 'listWebhookDeliveries',
      'post /api/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry': 'retryWebhookDelivery',
      'post /api/v1/users': 'createUser',
      'get /api/v1/users': 'listUsers',
      'get /api/v1/users/{user_id}': 'getUser',
      'delete /api/v1/users/{user_id}': 'deleteUser',
      'post /api/v1/api-keys': 'createApiKey',
      'get /api/v1/api-keys': 'listApiKeys',
      'delete /api/v1/api-keys/{id}': 'revokeApiKey',
      'get /health/live': 'getLiveness',
      'get /health/ready': 'getReadiness',
    });
    for (const id of Object.values(ids)) expect(id).toMatch(/^(list|get|put|create|update|delete|revoke|refresh|rotate|test|retry)[A-Z][A-Za-z]*$/);
  });

  it('names schemas for generated code (no Dto or Response suffix), and every $ref resolves', () => {
    const names = Object.keys(committed.components.schemas);
    for (const name of names) expect(name).not.toMatch(/(Dto|Response)$/);
    expect(names).toEqual(
      expect.arrayContaining(['Connection', 'ConnectionInput', 'User', 'UserInput', 'UserPage', 'ApiKey', 'ApiKeyInput', 'CreatedApiKey', 'Error']),
    );
    const refs = JSON.stringify(committed).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(() => resolved(committed, { $ref: JSON.parse(`{${ref}}`).$ref })).not.toThrow();
  });

  it("lists the connections routes first, the spec's endpoint at the top, and the tags in the same order", () => {
    expect(Object.keys(committed.paths)[0]).toBe('/api/v1/users/{user_id}/connections');
    expect(Object.keys(committed.paths)[1]).toBe('/api/v1/users/{user_id}/connections/{provider}');
    expect(committed.tags?.map((tag) => tag.name)).toEqual(['connections', 'users', 'api-keys', 'connect', 'health']);
  });

  it('the health routes are public, have response schemas their answers fit, and /health/ready documents its 503', async () => {
    for (const [path, schema] of [['/health/live', 'Liveness'], ['/health/ready', 'Readiness']]) {
      expect(committed.paths[path]?.get, path).toBeDefined();
      expect(committed.paths[path].get.security, `${path} security`).toBeUndefined();
      expect(committed.paths[path].get.responses['200'].content?.['application/json']?.schema).toEqual({ $ref: `#/components/schemas/${schema}` });
      const res = await request(t.server).get(path);
      expect(res.status).toBe(200);
      const declared = committed.components.schemas[schema];
      expect(Object.keys(res.body).sort(), path).toEqual(Object.keys(declared.properties!).sort());
      expect(declared.required, path).toEqual(Object.keys(declared.properties!));
      expect(res.body.status).toBe('ok');
    }
    expect(committed.paths['/health/ready'].get.responses['503']?.content?.['application/json']?.example).toEqual({ detail: expect.any(String) });
  });

  it("the connections list's example is the spec's example response", () => {
    const example = committed.paths['/api/v1/users/{user_id}/connections']?.get?.responses['200']?.content?.['application/json']?.example;
    expect(example).toEqual(specExample());
  });
  describe('the request schemas are the limits the service enforces', () => {
    let userId: string;
    let endpointId: string;
    beforeAll(async () => {
      userId = (await createUser()).id;
      // A public address literal: no DNS is needed to check it.
      endpointId = (await call('post', '/api/v1/webhook-endpoints', { body: { url: 'https://93.184.215.14/hooks' } })).body.id;
    });

    /** Each body operation, with a body the service accepts and where to send it. */
    const BODIES: { path: string; method: 'post' | 'put' | 'patch'; url: () => string; valid: () => Record<string, unknown> }[] = [
      { path: '/api/v1/users/{user_id}/connections/{provider}', method: 'put', url: () => `/api/v1/users/${userId}/connections/coros`, valid: () => ({ access_token: 'token' }) },
      { path: '/api/v1/users', method: 'post', url: () => '/api/v1/users', valid: () => ({}) },
      { path: '/api/v1/api-keys', method: 'post', url: () => '/api/v1/api-keys', valid: () => ({ name: 'limits', scopes: ['read'] }) },
      { path: '/api/v1/users/{user_id}/connect-sessions', method: 'post', url: () => `/api/v1/users/${userId}/connect-sessions`, valid: () => ({ return_url: 'http://localhost:3000/done' }) },
      { path: '/api/v1/webhook-endpoints', method: 'post', url: () => '/api/v1/webhook-endpoints', valid: () => ({ url: 'https://93.184.215.14/hooks' }) },
      { path: '/api/v1/webhook-endpoints/{id}', method: 'patch', url: () => `/api/v1/webhook-endpoints/${endpointId}`, valid: () => ({}) },
    ];
    const send = (method: 'post' | 'put' | 'patch', url: string, body: unknown) => call(method, url, { body });

    it('covers every operation with a body', () => {
      expect(BODIES.map(({ path, method }) => `${method} ${path}`).sort()).toEqual(
        operationsOf(committed).filter(({ op }) => op.requestBody).map(({ name }) => name).sort(),
      );
    });

    for (const body of BODIES) {
      it(`${body.method} ${body.path}: a string one character over its maxLength is refused, naming the field; a plain one at it is accepted`, async () => {
        const schema = bodySchema(committed, committed.paths[body.path][body.method])!;
        const strings = Object.entries(schema.properties ?? {}).filter(([, property]) => property.type === 'string' && !property.enum);
        for (const [field, property] of strings) {
          const over = await send(body.method, body.url(), { ...body.valid(), [field]: 'a'.repeat(property.maxLength! + 1) });
          expect(over.status, `${field} over ${property.maxLength}: ${over.text}`).toBe(400);
          expect(over.body.detail, field).toContain(field);
          if (property.format || property.pattern) continue;
          const at = `${randomUUID()}${'a'.repeat(property.maxLength! - 36)}`.slice(0, property.maxLength);
          const ok = await send(body.method, body.url(), { ...body.valid(), [field]: at });
          expect(ok.status, `${field} at ${property.maxLength}: ${ok.text}`).toBeLessThan(300);
        }
      });

      it(`${body.method} ${body.path}: an unknown field is refused, and each required field is required, in one message`, async () => {
        const schema = bodySchema(committed, committed.paths[body.path][body.method])!;
        const unknown = await send(body.method, body.url(), { ...body.valid(), colour: 'blue' });
        expect(unknown.status).toBe(400);
        expect(unknown.body).toEqual({ detail: 'colour is not a known field' });
        for (const field of schema.required ?? []) {
          const { [field]: _left, ...rest } = body.valid();
          const missing = await send(body.method, body.url(), rest);
          expect(missing.status, field).toBe(400);
          expect(missing.body).toEqual({ detail: `${field} is required` });
        }
      });
    }
  });
});
