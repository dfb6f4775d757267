import { member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';

const PERSONAL_INFO = 'https://api.ouraring.com/v2/usercollection/personal_info';
const REVOKE = 'https://api.ouraring.com/oauth/revoke';

/**
 * Oura (cloud.ouraring.com/docs/authentication). The user id is personal_info's `id` (the `personal`
 * scope). Users may untick scopes on Oura's consent page; what remains is not checked here, as Oura
 * serves each data type's endpoint to the scopes granted. Refresh tokens are single-use: each refresh
 * returns a new one.
 */
export const oura: ProviderAdapter = {
  name: 'oura',
  urls: {
    authorize: 'https://cloud.ouraring.com/oauth/authorize',
    token: 'https://api.ouraring.com/oauth/token',
  },
  clientAuthentication: 'body',
  pkce: false,
  scopes: { default: ['personal', 'daily', 'heartrate', 'workout', 'session', 'spo2Daily'], separator: ' ' },
  refresh: true,

  async afterExchange(tokens, { http }) {
    const info = await http.getJson(PERSONAL_INFO, tokens.accessToken);
    return { providerUserId: userId(member(info, 'id'), 'oura', 'personal_info (id)') };
  },

  deregister(accessToken, { http }) {
    // Oura's documented form: the token as a query parameter (ProviderHttp never writes a query into a message).
    return http.request(`${REVOKE}?${new URLSearchParams({ access_token: accessToken })}`, { method: 'POST' });
  },
};
