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

  /**
   * Withings' Notify (developer.withings.com, "Keep user's data up to date"): a POST, form-encoded
   * (`application/x-www-form-urlencoded`, which only this provider's notices may be; see
   * HttpSafetyNets), of `userid`, `appli` (the category), `startdate`, `enddate`, `date`, `deviceid`
   * and `action`. The user category (appli 46, user.info) says with `action` that the user unlinked
   * the app (`unlink`) or deleted the account (`delete`), both read as a deauthorization, or updated
   * the profile (`update`, nothing to do). The data categories (1, 4, 16, 44, …) carry no action and
   * are pushes of data this service does not handle ([]). `userid` is the token answer's, which is the
   * connection's provider_user_id. Withings does not sign its notifications (it publishes the addresses
   * they come from instead): the secret in the URL is what tells them from a forgery. One notice per
   * request; only `userid`, `appli` and `action` are read, and every field must be one string.
   */
  notices: {
    read(body, max) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
      if (!Object.values(body).every((value) => typeof value === 'string')) return undefined;
      const userid = member(body, 'userid');
      const appli = member(body, 'appli');
      const action = member(body, 'action');
      if (typeof userid !== 'string' || !WITHINGS_USER_ID.test(userid) || !Number.isSafeInteger(Number(userid))) return undefined;
      if (typeof appli !== 'string' || !/^[0-9]{1,4}$/.test(appli)) return undefined;
      if (Number(appli) !== USER_CATEGORY || action === 'update') return [];
      if (action !== 'unlink' && action !== 'delete') return undefined;
      return max >= 1 ? [{ kind: 'deauthorized', providerUserId: userid }] : undefined;
    },
  },
};

/** Withings' notification category of the user itself (user.info): unlinked, deleted, or updated. */
const USER_CATEGORY = 46;

/** A Withings user id as its notifications write it: an integer, as the token answer's (no sign, no leading zero). */
const WITHINGS_USER_ID = /^[1-9][0-9]{0,15}$/;

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
