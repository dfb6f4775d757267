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

describe("withings' notifications", () => {
  const read = (body: unknown, max = 1000) => withings.notices!.read(body, max);
  // As Withings posts them, form-encoded: the form parser gives a flat object of strings.
  const user = (action: string) => ({ userid: '363', appli: '46', startdate: '1765000000', enddate: '1765000000', date: '2025-12-06', action });

  it('reads an unlink or a deleted account (the user category, appli 46) as a deauthorization of that userid', () => {
    expect(read(user('unlink'))).toEqual([{ kind: 'deauthorized', providerUserId: '363' }]);
    expect(read(user('delete'))).toEqual([{ kind: 'deauthorized', providerUserId: '363' }]);
    expect(read({ userid: '9007199254740991', appli: '46', action: 'unlink' })).toEqual([{ kind: 'deauthorized', providerUserId: '9007199254740991' }]);
  });

  it('reads a profile update, and the data categories (no action), as nothing to do', () => {
    expect(read(user('update'))).toEqual([]);
    for (const appli of ['1', '4', '16', '44', '50', '54']) {
      expect(read({ userid: '363', appli, startdate: '1765000000', enddate: '1765003600', deviceid: 'a1b2' }), appli).toEqual([]);
    }
  });

  it('refuses what is not of its shape: no integer userid, no integer appli, an unknown action, a value that is not one string', () => {
    for (const body of [
      undefined,
      null,
      'userid=363&appli=46&action=unlink',
      [user('unlink')],
      {},
      { appli: '46', action: 'unlink' },
      { ...user('unlink'), userid: '' },
      { ...user('unlink'), userid: 'abc' },
      { ...user('unlink'), userid: '-363' },
      { ...user('unlink'), userid: '0363' },
      { ...user('unlink'), userid: '3.5' },
      { ...user('unlink'), userid: '9007199254740993' },
      { ...user('unlink'), userid: 363 },
      { userid: '363', action: 'unlink' },
      { ...user('unlink'), appli: 'user' },
      { ...user('unlink'), appli: '46.0' },
      { ...user('unlink'), appli: 46 },
      { userid: '363', appli: '46' },
      user('revoke'),
      user('UNLINK'),
      { ...user('unlink'), action: ['unlink'] },
      { ...user('unlink'), deviceid: { id: 'x' } },
      { ...user('unlink'), date: null },
    ]) {
      expect(read(body), JSON.stringify(body)).toBeUndefined();
    }
  });

  it('carries one notice per request, within the bound it is given', () => {
    expect(read(user('unlink'), 1)).toHaveLength(1);
    expect(read(user('unlink'), 0)).toBeUndefined();
    expect(read(user('update'), 0)).toEqual([]);
  });
});
