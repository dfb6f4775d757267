import { createHmac } from 'node:crypto';
import { member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import type { ProviderAnswer, ProviderHttp } from './provider-http.js';
import { ProviderError } from './provider-error.js';

const OAUTH2 = 'https://wbsapi.withings.net/v2/oauth2';
const SIGNATURE = 'https://wbsapi.withings.net/v2/signature';

/**
 * Withings (developer.withings.com, OAuth 2.0 and the signature service). Every answer is HTTP 200
 * `{"status": n, "body": {...}}`: status 0 is success, anything else an error whose number says which.
 * The token endpoint is one URL for every action (`action=requesttoken`). An authorization code is
 * valid for 30 seconds, so the exchange must follow the callback at once. Deregistration revokes the
 * user with a nonce and an HMAC-SHA256 signature made with the client secret.
 */
export const withings: ProviderAdapter = {
  name: 'withings',
  urls: {
    authorize: 'https://account.withings.com/oauth2_user/authorize2',
    token: OAUTH2,
  },
  clientAuthentication: 'body',
  pkce: false,
  scopes: { default: ['user.info', 'user.metrics', 'user.activity'], separator: ',' },
  tokenParams: { exchange: { action: 'requesttoken' }, refresh: { action: 'requesttoken' } },
  refresh: true,

  tokenAnswer(answer) {
    const status = member(answer.body, 'status');
    if (answer.status !== 200 || typeof status !== 'number') return answer;
    if (status === 0) return { status: 200, body: { token_type: 'bearer', ...(member(answer.body, 'body') as object) } };
    return asHttp(status);
  },

  async afterExchange(tokens) {
    return { providerUserId: userId(tokens.raw.userid, 'withings', 'token answer (userid)') };
  },

  async deregister(_accessToken, { http, clientId, clientSecret, providerUserId }) {
    if (!providerUserId) throw new ProviderError('deregistration_failed', 'withings', "withings' revocation needs the connection's provider_user_id");
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonceAnswer = await signedCall(http, SIGNATURE, clientSecret, { action: 'getnonce', client_id: clientId, timestamp });
    const nonce = member(member(nonceAnswer.body, 'body'), 'nonce');
    if (nonceAnswer.status !== 200 || typeof nonce !== 'string') return new Response(null, { status: 400 });
    const revoked = await signedCall(http, OAUTH2, clientSecret, { action: 'revoke', client_id: clientId, nonce }, { userid: providerUserId });
    return new Response(null, { status: revoked.status });
  },
};

/** The HTTP status a Withings status amounts to: 601 (too many requests) and 2555 (unknown error) are transient. */
function httpStatus(status: number): number {
  if (status === 0) return 200;
  if (status === 601) return 429;
  if (status === 2555) return 503;
  return 400;
}

/**
 * A token answer's Withings status as RFC 6749's error: 503 "invalid params" (a bad, used or lapsed
 * code or refresh token) is invalid_grant; the authentication failures (100–102, 200, 401, 516) are
 * invalid_client, which is not the user's grant's fault.
 */
function asHttp(status: number): ProviderAnswer {
  const http = httpStatus(status);
  if (http !== 400) return { status: http, body: {} };
  const error = status === 503 ? 'invalid_grant' : [100, 101, 102, 200, 401, 516].includes(status) ? 'invalid_client' : 'invalid_request';
  return { status: error === 'invalid_client' ? 401 : 400, body: { error, error_description: `Withings status ${status}` } };
}

/** A signed call: `signature` is HMAC-SHA256 (hex, with the client secret) of the signed values in key order, comma-joined. */
async function signedCall(
  http: ProviderHttp,
  url: string,
  clientSecret: string,
  signed: Record<string, string>,
  unsigned: Record<string, string> = {},
): Promise<ProviderAnswer> {
  const values = Object.keys(signed).sort().map((key) => signed[key]).join(',');
  const signature = createHmac('sha256', clientSecret).update(values).digest('hex');
  const response = await http.request(url, { method: 'POST', body: new URLSearchParams({ ...signed, ...unsigned, signature }) }, (answer) => {
    const status = member(answer.body, 'status');
    return answer.status === 200 && typeof status === 'number' ? { status: httpStatus(status), body: answer.body } : answer;
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}
