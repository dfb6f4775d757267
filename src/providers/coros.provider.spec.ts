import { describe, expect, it } from 'vitest';
import { coros } from './coros.provider.js';

describe("coros' token answers", () => {
  it('adds the token_type Coros leaves out, and reads camelCase fields by their RFC 6749 names', () => {
    expect(coros.tokenAnswer!({ status: 200, body: { accessToken: 'a', refreshToken: 'r', expiresIn: 2592000, openId: 'o' } })).toEqual({
      status: 200,
      body: { token_type: 'bearer', access_token: 'a', refresh_token: 'r', expires_in: 2592000, openId: 'o' },
    });
    expect(coros.tokenAnswer!({ status: 200, body: { access_token: 'a', expires_in: 2592000, openId: 'o' } }).body).toMatchObject({ token_type: 'bearer' });
  });

  it('reads a result other than 0000 without a token as a refused code', () => {
    expect(coros.tokenAnswer!({ status: 200, body: { result: '5001', message: 'invalid code' } })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
