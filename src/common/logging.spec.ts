import { describe, expect, it } from 'vitest';
import { redactPath } from './logging.js';

describe('redactPath', () => {
  const token = 'garmin-webhook-token-0123456789';

  it.each([
    [`/webhooks/providers/garmin/${token}`, '/webhooks/providers/garmin/[redacted]'],
    [`/WEBHOOKS/providers/strava/${token}`, '/WEBHOOKS/providers/strava/[redacted]'],
    [`/webhooks/providers/nobody/${token}`, '/webhooks/providers/nobody/[redacted]'],
    ['/webhooks/providers/garmin', '/webhooks/providers/garmin'],
  ])("hides a provider webhook's token: %s", (path, shown) => {
    expect(redactPath(path)).toBe(shown);
  });

  it("hides it through the matched route's :token too", () => {
    expect(redactPath(`/webhooks/providers/garmin/${token}`, '/webhooks/providers/:provider/:token')).toBe('/webhooks/providers/garmin/[redacted]');
  });

  it('leaves the spec endpoint as it is', () => {
    const path = '/api/v1/users/550e8400-e29b-41d4-a716-446655440000/connections';
    expect(redactPath(path)).toBe(path);
  });
});
