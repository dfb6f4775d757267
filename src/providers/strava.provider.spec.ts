import { describe, expect, it } from 'vitest';
import { strava } from './strava.provider.js';

describe("strava's error answers", () => {
  const refusal = (resource: string) => strava.tokenAnswer!({ status: 400, body: { message: 'Bad Request', errors: [{ resource, field: 'x', code: 'invalid' }] } });

  it('reads a refused code or refresh token as invalid_grant, a refused client as invalid_client, anything else as invalid_request', () => {
    expect(refusal('AuthorizationCode')).toEqual({ status: 400, body: { error: 'invalid_grant' } });
    expect(refusal('RefreshToken').body).toEqual({ error: 'invalid_grant' });
    expect(refusal('Application').body).toEqual({ error: 'invalid_client' });
    expect(refusal('Athlete').body).toEqual({ error: 'invalid_request' });
  });

  it('leaves a success answer as it is', () => {
    const success = { status: 200, body: { token_type: 'Bearer', access_token: 'a', athlete: { id: 1 } } };
    expect(strava.tokenAnswer!(success)).toBe(success);
  });
});
