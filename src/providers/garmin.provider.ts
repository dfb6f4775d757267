import { bearer, member, noticeUserId, userId } from './adapter-support.js';
import type { ProviderAdapter, ProviderNotice } from './provider-adapter.js';
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

  /**
   * Garmin's Health API pushes (Push/Ping specification): `{"deregistrations": [{"userId",
   * "userAccessToken"}]}` when a user removes the app at Garmin Connect, and `{"userPermissionsChange":
   * [{"userId", "permissions": [...], …}]}` when they change what it may read. Garmin does not sign
   * its pushes: the secret in the URL is what tells them from a forgery. Only the user ids and
   * permissions are read (the access token a deregistration carries is never looked at).
   */
  notices: {
    read(body, max) {
      const deregistrations = member(body, 'deregistrations');
      const changes = member(body, 'userPermissionsChange');
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
      if ((deregistrations !== undefined && !Array.isArray(deregistrations)) || (changes !== undefined && !Array.isArray(changes))) return undefined;
      const notices: ProviderNotice[] = [];
      for (const entry of (deregistrations ?? []) as unknown[]) {
        const id = noticeUserId(member(entry, 'userId'));
        if (id === undefined) return undefined;
        notices.push({ kind: 'deauthorized', providerUserId: id });
      }
      for (const entry of (changes ?? []) as unknown[]) {
        const id = noticeUserId(member(entry, 'userId'));
        const permissions = member(entry, 'permissions');
        if (id === undefined || !Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string' && p.length <= 100)) return undefined;
        notices.push({ kind: 'permissions', providerUserId: id, scope: permissions.length > 0 ? permissions.join(' ') : null });
      }
      return notices.length > max ? undefined : notices;
    },
  },
};
