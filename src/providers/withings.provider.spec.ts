import { describe, expect, it } from 'vitest';
import { withings } from './withings.provider.js';

describe("withings' token answers", () => {
  const answer = (body: unknown) => withings.tokenAnswer!({ status: 200, body });

  it('unwraps status 0 into an RFC 6749 answer, with a token_type when the body has none', () => {
    expect(answer({ status: 0, body: { userid: 363, access_token: 'a', refresh_token: 'r', expires_in: 10800, scope: 'user.info' } })).toEqual({
      status: 200,
      body: { token_type: 'bearer', userid: 363, access_token: 'a', refresh_token: 'r', expires_in: 10800, scope: 'user.info' },
    });
    expect(answer({ status: 0, body: { access_token: 'a', token_type: 'Bearer' } }).body).toMatchObject({ token_type: 'Bearer' });
  });

  it("turns another status into the OAuth error it amounts to: a bad code or refresh token is invalid_grant, a client's failure invalid_client", () => {
    expect(answer({ status: 503, body: {}, error: 'Invalid Params: invalid code' })).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Withings status 503' },
    });
    expect(answer({ status: 401, body: {} })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(answer({ status: 293, body: {} })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('takes 601 (too many requests) and 2555 (unknown error) as transient: HTTP 429 and 503', () => {
    expect(answer({ status: 601, body: {} }).status).toBe(429);
    expect(answer({ status: 2555, body: {} }).status).toBe(503);
  });
});
