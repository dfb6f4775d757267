import { bearer, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { ProviderError } from './provider-error.js';

const USERS = 'https://www.polaraccesslink.com/v3/users';

/**
 * Polar AccessLink (www.polar.com/accesslink-api). The token answer names the user (`x_user_id`); the
 * user must then be registered with AccessLink (POST /v3/users, our user id as `member-id`), where 409
 * means already registered: that is register(), run once the account is accepted. Access tokens are
 * long-lived and there is no refresh token.
 */
export const polar: ProviderAdapter = {
  name: 'polar',
  urls: {
    authorize: 'https://flow.polar.com/oauth2/authorization',
    token: 'https://polarremote.com/v2/oauth2/token',
  },
  clientAuthentication: 'basic',
  pkce: false,
  scopes: { default: ['accesslink.read_all'], separator: ' ' },
  refresh: false,

  async afterExchange(tokens) {
    return { providerUserId: userId(tokens.raw.x_user_id, 'polar', 'token answer (x_user_id)') };
  },

  async register(tokens, { http, userId: memberId }) {
    const registration = await http.request(USERS, {
      method: 'POST',
      headers: { ...bearer(tokens.accessToken), 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ 'member-id': memberId }),
    });
    if (!registration.ok && registration.status !== 409) {
      throw new ProviderError('exchange_failed', 'polar', `polar answered HTTP ${registration.status} to POST /v3/users`);
    }
  },

  deregister(accessToken, { http, providerUserId }) {
    if (!providerUserId) throw new ProviderError('deregistration_failed', 'polar', "polar's deregistration needs the connection's provider_user_id");
    return http.request(`${USERS}/${encodeURIComponent(providerUserId)}`, { method: 'DELETE', headers: bearer(accessToken) });
  },
};
