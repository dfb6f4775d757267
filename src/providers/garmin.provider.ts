import { bearer, member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { ProviderError } from './provider-error.js';

const USER_ID = 'https://apis.garmin.com/wellness-api/rest/user/id';
const PERMISSIONS = 'https://apis.garmin.com/wellness-api/rest/user/permissions';
const REGISTRATION = 'https://apis.garmin.com/wellness-api/rest/user/registration';

/**
 * Garmin Connect Developer Program, OAuth 2.0 with PKCE (Garmin's "OAuth2 PKCE" specification).
 * There are no OAuth scopes: the user ticks permissions on Garmin's consent page (ACTIVITY_EXPORT,
 * HEALTH_EXPORT…), read back from user/permissions. No permission at all is `scope_denied`.
 */
export const garmin: ProviderAdapter = {
  name: 'garmin',
  urls: {
    authorize: 'https://connect.garmin.com/oauth2Confirm',
    token: 'https://diauth.garmin.com/di-oauth2-service/oauth/token',
  },
  clientAuthentication: 'body',
  pkce: true,
  scopes: { default: [], separator: ' ' },
  refresh: true,

  async afterExchange(tokens, { http }) {
    const providerUserId = userId(member(await http.getJson(USER_ID, tokens.accessToken), 'userId'), 'garmin', 'user/id answer');
    // Garmin's specification answers an array; some integrations report {"permissions": [...]}: both are read.
    const answer = await http.getJson(PERMISSIONS, tokens.accessToken);
    const permissions = Array.isArray(answer) ? answer : member(answer, 'permissions');
    if (!Array.isArray(permissions) || !permissions.every((permission) => typeof permission === 'string')) {
      throw new ProviderError('exchange_failed', 'garmin', 'garmin answered GET /wellness-api/rest/user/permissions with no list of permissions');
    }
    if (permissions.length === 0) throw new ProviderError('scope_denied', 'garmin', 'the user granted Garmin no permission');
    return { providerUserId, scope: permissions.join(' ') };
  },

  deregister(accessToken, { http }) {
    return http.request(REGISTRATION, { method: 'DELETE', headers: bearer(accessToken) });
  },
};
