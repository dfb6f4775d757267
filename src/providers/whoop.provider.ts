import { bearer, member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { ProviderError } from './provider-error.js';

const PROFILE = 'https://api.prod.whoop.com/developer/v2/user/profile/basic';
const ACCESS = 'https://api.prod.whoop.com/developer/v2/user/access';

/**
 * WHOOP (developer.whoop.com). Without the `offline` scope Whoop issues no refresh token, and the
 * connection would die with its first access token: when `offline` was asked for and no refresh token
 * came, that is `scope_denied`. A refresh asks for `offline` again, as Whoop requires. `read:profile`
 * is what the user id is read with.
 */
export const whoop: ProviderAdapter = {
  name: 'whoop',
  urls: {
    authorize: 'https://api.prod.whoop.com/oauth/oauth2/auth',
    token: 'https://api.prod.whoop.com/oauth/oauth2/token',
  },
  clientAuthentication: 'body',
  pkce: false,
  scopes: {
    default: ['offline', 'read:profile', 'read:recovery', 'read:cycles', 'read:sleep', 'read:workout', 'read:body_measurement'],
    separator: ' ',
  },
  tokenParams: { refresh: { scope: 'offline' } },
  refresh: true,

  async afterExchange(tokens, { http, requestedScopes }) {
    if (requestedScopes.includes('offline') && !tokens.refreshToken) {
      throw new ProviderError('scope_denied', 'whoop', 'whoop issued no refresh token: the offline scope was not granted');
    }
    const profile = await http.getJson(PROFILE, tokens.accessToken);
    return { providerUserId: userId(member(profile, 'user_id'), 'whoop', 'profile (user_id)') };
  },

  deregister(accessToken, { http }) {
    return http.request(ACCESS, { method: 'DELETE', headers: bearer(accessToken) });
  },
};
