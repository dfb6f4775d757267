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

  it('should refuse a time past year 9999 in UTC, which could not come back in the same form', async () => {
    const res = await inject({
      method: 'PUT',
      url: `/api/v1/users/${userId}/connections/polar`,
      payload: { access_token: 'token', last_synced_at: '9999-12-31T23:59:59-14:00' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ detail: expect.stringContaining('last_synced_at') });
  });

  it('should accept RFC 3339 times with fractions and offsets, and return them in UTC', async () => {
    const res = await inject({
      method: 'PUT',
      url: `/api/v1/users/${userId}/connections/suunto`,
      payload: { access_token: 'token', last_synced_at: '2024-03-15T12:30:00.250+02:00' },
    });
    expect(res.statusCode).toBe(201);
    expect((res.json() as { last_synced_at: string }).last_synced_at).toBe('2024-03-15T10:30:00.250Z');
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
});
