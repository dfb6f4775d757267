import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer } from '@nestjs/core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpenApiDocument } from '../src/openapi.js';
import { startTestApp, type TestApp } from './support/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COMMITTED_PATH = resolve(ROOT, 'openapi.json');
const SPEC_PATH = resolve(ROOT, 'docs/spec/list-user-connections.md');
const STALE = 'openapi.json is out of date: run `npm run openapi` and commit the result';

type Operation = {
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: { 'application/json'?: { schema?: unknown; example?: unknown } } }>;
};
type Document = { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };

/** A JSON round trip: what a client reading the document sees (no undefined members). */
const asJson = <T>(value: unknown): T => JSON.parse(JSON.stringify(value)) as T;

/** Every route the application's controllers declare, as `get /api/v1/users/{user_id}`. */
function declaredRoutes(t: TestApp): { method: string; path: string; fastifyPath: string }[] {
  const routes: { method: string; path: string; fastifyPath: string }[] = [];
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
        routes.push({
          method: RequestMethod[method].toLowerCase(),
          path: fastifyPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
          fastifyPath,
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

describe('OpenAPI document', () => {
  let t: TestApp;
  let committed: Document;
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

  it('every /api/v1 route requires the X-API-Key scheme and documents 401, 403 and 429 as {"detail"} errors', () => {
    const operations = Object.entries(committed.paths)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ name: `${method} ${path}`, op })));
    expect(operations.length).toBeGreaterThan(0);
    for (const { name, op } of operations) {
      expect(op.security, `${name} security`).toEqual([{ 'api-key': [] }]);
      for (const status of ['401', '403', '429']) {
        const content = op.responses[status]?.content?.['application/json'];
        expect(content, `${name} documents ${status}`).toBeDefined();
        expect(content?.schema, `${name} ${status} schema`).toEqual({ $ref: '#/components/schemas/ErrorResponse' });
        expect(content?.example, `${name} ${status} example`).toEqual({ detail: expect.any(String) });
      }
    }
  });

  it('the health routes are public: no security requirement, and /health/ready documents its 503', () => {
    for (const path of ['/health/live', '/health/ready']) {
      expect(committed.paths[path]?.get, path).toBeDefined();
      expect(committed.paths[path].get.security, `${path} security`).toBeUndefined();
    }
    expect(committed.paths['/health/ready'].get.responses['503']?.content?.['application/json']?.example).toEqual({ detail: expect.any(String) });
  });

  it("the connections list's example is the spec's example response", () => {
    const example = committed.paths['/api/v1/users/{user_id}/connections']?.get?.responses['200']?.content?.['application/json']?.example;
    expect(example).toEqual(specExample());
  });
});
