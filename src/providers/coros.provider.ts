import { member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';

const DEAUTHORIZE = 'https://open.coros.com/oauth2/deauthorize';
/** Coros' answers name their fields either way; these are RFC 6749's names for its camelCase ones. */
const SNAKE_CASE: Record<string, string> = { accessToken: 'access_token', refreshToken: 'refresh_token', expiresIn: 'expires_in' };

/**
 * COROS Open API (API Reference, partners only). The token answer carries the user's `openId` and may
 * lack `token_type`, which RFC 6749 requires: it is added as bearer. There is no scope parameter. An
 * access token lasts 30 days and Coros has no refresh grant: its /oauth2/refresh-token extends the
 * current access token in place and answers `{"result": "0000"}`, so `refresh` is false here.
 * Errors come as `{"result": "<not 0000>", "message"}`.
 */
export const coros: ProviderAdapter = {
  name: 'coros',
  urls: {
    authorize: 'https://open.coros.com/oauth2/authorize',
    token: 'https://open.coros.com/oauth2/accesstoken',
  },
  clientAuthentication: 'body',
  pkce: false,
  scopes: { default: [], separator: ' ' },
  refresh: false,

  tokenAnswer(answer) {
    if (answer.status !== 200 || typeof answer.body !== 'object' || answer.body === null) return answer;
    const body = Object.fromEntries(Object.entries(answer.body).map(([name, value]) => [SNAKE_CASE[name] ?? name, value]));
    if (body.access_token === undefined && body.result !== undefined && body.result !== '0000') {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Coros refused the code' } };
    }
    return { status: 200, body: { token_type: 'bearer', ...body } };
  },

  async afterExchange(tokens) {
    return { providerUserId: userId(tokens.raw.openId, 'coros', 'token answer (openId)') };
  },

  async deregister(accessToken, { http }) {
    const response = await http.request(DEAUTHORIZE, { method: 'POST', headers: { token: accessToken, accept: 'application/json' } });
    if (!response.ok) return response;
    const result = member(await response.json().catch(() => undefined), 'result');
    return new Response(null, { status: result === '0000' ? 200 : 400 });
  },
};
