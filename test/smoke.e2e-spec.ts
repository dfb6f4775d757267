import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestApp, type TestApp } from './support/test-app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ demoData: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the demo user', async () => {
    const res = await request(t.server)
      .get('/api/v1/users/550e8400-e29b-41d4-a716-446655440000/connections')
      .set('X-API-Key', ADMIN_KEY);
    expect(res.status).toBe(200);
    expect(res.body.map((c: { provider: string }) => c.provider)).toEqual(['garmin', 'strava', 'polar']);
  });
});
