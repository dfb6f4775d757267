import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

describe('explore', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t?.close(); });
  it('probes', async () => {
    const f = t.app.getHttpAdapter().getInstance();
    const uid = randomUUID();
    const probes: any[] = [
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ id: uid, external_user_id: 'a\u0000b' }) },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ id: uid }) },
      { method: 'PUT', url: `/api/v1/users/${uid}/connections/garmin`, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: 'x', scope: 'a\u0000' }) },
      { method: 'PUT', url: `/api/v1/users/${uid}/connections/garmin`, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: 'x', scope: '\ud800' }) },
      { method: 'POST', url: '/api/v1/api-keys', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'a\u0000', scopes: ['read'] }) },
      { method: 'GET', url: '/api/v1/users/%E0%A4%A', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users/%00', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users/' + 'a'.repeat(3000), headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users/é', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users?limit=%E0%A4%A', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'PATCH', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'OPTIONS', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'HEAD', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'HEAD', url: '/api/v1/users' },
      { method: 'TRACE', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users', headers: { 'x-api-key': [ADMIN_KEY, ADMIN_KEY] } },
      { method: 'GET', url: '/api/v1/users', headers: { 'x-api-key': 'é\u0001' } },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': ['application/json', 'text/plain'] }, payload: '{}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json', 'content-length': '5' }, payload: '{"a":1234}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json', 'content-length': '50' }, payload: '{}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: '{"constructor":{"prototype":{"x":1}}}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: '' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY }, payload: '' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: 'null' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: 'x'.repeat(1100000) },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json; charset=utf-16' }, payload: '{}' },
      { method: 'POST', url: '/api/v1/users', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json', 'content-encoding': 'gzip' }, payload: '{}' },
      { method: 'GET', url: '/api/v1/users?cursor=' + Buffer.from('00000000-0000-0000-0000-00000000000\u0000').toString('base64url'), headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: '/api/v1/users?limit=1e2', headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'POST', url: '/api/v1/api-keys', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'n', scopes: ['read'], expires_at: '9999-12-31T23:59:59-14:00' }) },
      { method: 'POST', url: '/api/v1/api-keys', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'n', scopes: ['read'], expires_at: '+275760-09-13T00:00:00Z' }) },
      { method: 'PUT', url: `/api/v1/users/${uid}/connections/garmin`, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: 'x', last_synced_at: '0000-01-01T00:00:00Z' }) },
      { method: 'PUT', url: `/api/v1/users/${uid}/connections/garmin`, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: 'x', last_synced_at: '9999-12-31T23:59:59.999-23:59' }) },
      { method: 'PUT', url: `/api/v1/users/${uid}/connections/garmin`, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: 'x', token_expires_at: '2024-01-01T24:00:00Z' }) },
      { method: 'GET', url: `/api/v1/users/${uid}/connections?status=active&status=revoked`, headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: `/api/v1/users/${uid}/connections?status[a]=b`, headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: `/api/v1/users/${uid}/connections/`, headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: `//api/v1/users`, headers: { 'x-api-key': ADMIN_KEY } },
      { method: 'GET', url: `/health/ready`, headers: {} },
    ];
    for (const p of probes) {
      const s = Date.now();
      try {
        const r = await f.inject(p);
        console.log(p.method, p.url.slice(0, 120), JSON.stringify(p.headers ?? {}).slice(0, 100), String(p.payload ?? '').slice(0, 80), '->', r.statusCode, r.headers['content-type'], r.body.slice(0, 300), Date.now() - s, 'ms');
      } catch (e) {
        console.log(p.method, p.url.slice(0, 80), 'THREW', e);
      }
    }
    console.log(t.logs.filter((l) => /"level":(50|40)/.test(l)).join('\n').slice(0, 3000));
  }, 60_000);
});
