import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

// Counterexamples the fuzz test found, kept as plain regression tests.
describe('input edge cases', () => {
  let t: TestApp;
  let userId: string;
  const inject = (options: { method: string; url: string; payload?: unknown; headers?: Record<string, string> }) =>
    t.app
      .getHttpAdapter()
      .getInstance()
      .inject({ ...options, headers: { 'x-api-key': ADMIN_KEY, ...options.headers } } as never) as unknown as Promise<{
      statusCode: number;
      json(): unknown;
    }>;

  beforeAll(async () => {
    t = await startTestApp();
    userId = randomUUID();
    expect((await inject({ method: 'POST', url: '/api/v1/users', payload: { id: userId } })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['a user field', 'POST', '/api/v1/users', { external_user_id: 'a\u0000b' }],
    ['a connection field', 'PUT', '/connections/garmin', { access_token: 'token', scope: '\u0000' }],
    ['a field name', 'POST', '/api/v1/users', { 'email\u0000': 'a@b.co' }],
  ])('should answer a NUL character in %s with 400 {"detail"}', async (_where, method, path, payload) => {
    const url = path.startsWith('/connections') ? `/api/v1/users/${userId}${path}` : path;
    const res = await inject({ method, url, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ detail: expect.stringContaining('NUL') });
  });

  it.each(['2024-W11-5T10:30:00Z', '2024-075T10:30:00Z', '2024-03-15T10:30:00+05', '2024-03-15T10Z', '2024-03-15T10:30:00,5Z'])(
    'should answer the time %s, which is not RFC 3339, with 400 naming the field',
    async (time) => {
      const res = await inject({
        method: 'PUT',
        url: `/api/v1/users/${userId}/connections/strava`,
        payload: { access_token: 'token', token_expires_at: time },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ detail: expect.stringContaining('token_expires_at') });
    },
  );

  it.each([
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-04-31T23:00:00-02:00',
    '2024-13-01T00:00:00Z',
    '2024-03-00T00:00:00Z',
    '2024-03-15T24:00:00Z',
    '2024-03-15T10:30:00+24:00',
  ])('should answer the impossible time %s with 400 naming the field, not move it to a real one, and store nothing', async (time) => {
    for (const field of ['token_expires_at', 'last_synced_at']) {
      const res = await inject({
        method: 'PUT',
        url: `/api/v1/users/${userId}/connections/withings`,
        payload: { access_token: 'token', [field]: time },
      });
      expect(res.statusCode, `${field}: ${time}`).toBe(400);
      expect(res.json()).toEqual({ detail: expect.stringContaining(field) });
    }
    const list = await inject({ method: 'GET', url: `/api/v1/users/${userId}/connections?provider=withings` });
    expect(list.json()).toEqual([]);
    const key = await inject({ method: 'POST', url: '/api/v1/api-keys', payload: { name: 'impossible expiry', scopes: ['read'], expires_at: time.replace(/^2024|^2023/, '2999') } });
    // 2999 is not a leap year either, so its February 29th is as impossible as 2023's.
    expect(key.statusCode, `expires_at: ${time}`).toBe(400);
    expect(key.json()).toEqual({ detail: expect.stringContaining('expires_at') });
  });

  it('should accept February 29th of a leap year, with or without an offset', async () => {
    const res = await inject({
      method: 'PUT',
      url: `/api/v1/users/${userId}/connections/oura`,
      payload: { access_token: 'token', last_synced_at: '2024-02-29T23:30:00-01:00', token_expires_at: '2024-02-29T00:00:00Z' },
    });
    expect(res.statusCode).toBe(201);
    expect((res.json() as { last_synced_at: string }).last_synced_at).toBe('2024-03-01T00:30:00Z');
  });

  it('should refuse a time past year 9999 in UTC, which could not come back in the same form', async () => {
    const res = await inject({
      method: 'PUT',
      url: `/api/v1/users/${userId}/connections/polar`,
      payload: { access_token: 'token', last_synced_at: '9999-12-31T23:59:59-14:00' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ detail: expect.stringContaining('last_synced_at') });
  });

  it('should answer a malformed percent-escape in the URL with 400 {"detail"}', async () => {
    const res = await inject({ method: 'GET', url: '/api/v1/users/%' });
    expect(res.statusCode).toBe(400);
    expect(Object.keys(res.json() as object)).toEqual(['detail']);
  });

  it('should answer a path parameter over 2,048 characters with 414 {"detail"}', async () => {
    const res = await inject({ method: 'GET', url: `/api/v1/users/${'a'.repeat(2100)}` });
    expect(res.statusCode).toBe(414);
    expect(res.json()).toEqual({ detail: 'A path parameter is too long' });
  });

  it('should refuse a body with thousands of fields before validating it', async () => {
    const payload = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`field${i}`, i]));
    const res = await inject({ method: 'POST', url: '/api/v1/users', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ detail: 'The request body has too many fields' });
  });

  it('should answer a DELETE with Content-Type: application/json and an empty body as one without the header: 204', async () => {
    const url = `/api/v1/users/${userId}/connections/whoop`;
    expect((await inject({ method: 'PUT', url, payload: { access_token: 'token' } })).statusCode).toBe(201);
    const emptyJson = { 'content-type': 'application/json', 'content-length': '0' };
    const first = await inject({ method: 'DELETE', url, payload: '', headers: emptyJson });
    expect(first.statusCode).toBe(204);
    const list = await inject({ method: 'GET', url: `/api/v1/users/${userId}/connections?provider=whoop` });
    expect((list.json() as { status: string }[]).map((c) => c.status)).toEqual(['revoked']);
    expect((await inject({ method: 'DELETE', url, payload: '', headers: emptyJson })).statusCode).toBe(204);
    expect((await inject({ method: 'DELETE', url })).statusCode).toBe(204);
  });

  it('should read an empty application/json body as no body: POST /api/v1/users creates a user, PUT asks for access_token', async () => {
    const emptyJson = { 'content-type': 'application/json', 'content-length': '0' };
    const created = await inject({ method: 'POST', url: '/api/v1/users', payload: '', headers: emptyJson });
    expect(created.statusCode).toBe(201);
    const put = await inject({ method: 'PUT', url: `/api/v1/users/${userId}/connections/oura`, payload: '', headers: emptyJson });
    expect(put.statusCode).toBe(400);
    expect(put.json()).toEqual({ detail: 'access_token is required' });
  });

  it('should still refuse malformed JSON, and prototype poisoning as the parser does (not as an unknown field), with 400', async () => {
    const details: string[] = [];
    for (const payload of ['{"id": ', '{"__proto__": {"admin": true}}', '{"constructor": {"prototype": {"admin": true}}}', ' ']) {
      const res = await inject({ method: 'POST', url: '/api/v1/users', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      details.push((res.json() as { detail: string }).detail);
    }
    // One answer for all four: secure-json-parse refused the poisoned ones before any validation saw them.
    expect(new Set(details).size, details.join(' | ')).toBe(1);
  });

  it('should answer a missing required field with one message: "access_token is required"', async () => {
    const res = await inject({ method: 'PUT', url: `/api/v1/users/${userId}/connections/fitbit`, payload: { scope: 'read' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ detail: 'access_token is required' });
    const wrongType = await inject({ method: 'PUT', url: `/api/v1/users/${userId}/connections/fitbit`, payload: { access_token: 5 } });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json()).toEqual({ detail: 'access_token must be a string' });
    const keyless = await inject({ method: 'POST', url: '/api/v1/api-keys', payload: {} });
    expect(keyless.json()).toEqual({ detail: 'name is required; scopes is required' });
  });

  it.each(['[]', '"x"', '42', 'null', '[{"access_token": "token"}]'])('should answer the JSON body %s with 400 "body must be a JSON object"', async (payload) => {
    for (const [method, url] of [
      ['PUT', `/api/v1/users/${userId}/connections/withings`],
      ['POST', '/api/v1/users'],
      ['POST', '/api/v1/api-keys'],
    ]) {
      const res = await inject({ method, url, payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, `${method} ${url}`).toBe(400);
      expect(res.json()).toEqual({ detail: 'body must be a JSON object' });
    }
  });

  it('should redirect GET / to the API docs at /docs', async () => {
    const res = (await inject({ method: 'GET', url: '/', headers: {} })) as unknown as { statusCode: number; headers: Record<string, string> };
    expect([301, 302]).toContain(res.statusCode);
    expect(res.headers.location).toBe('/docs');
    const docs = await inject({ method: 'GET', url: res.headers.location });
    expect(docs.statusCode).toBe(200);
  });
});
