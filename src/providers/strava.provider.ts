import { member, noticeUserId, scopesOf, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { ProviderError } from './provider-error.js';

const DEAUTHORIZE = 'https://www.strava.com/oauth/deauthorize';

/** Strava's error resources, as RFC 6749 error codes (Strava answers `{"message", "errors": [{resource, field, code}]}`). */
const ERROR_BY_RESOURCE: Record<string, string> = {
  AuthorizationCode: 'invalid_grant',
  RefreshToken: 'invalid_grant',
  Application: 'invalid_client',
};

/**
 * Strava (developers.strava.com/docs/authentication). Scopes are comma-separated, and the user may
 * untick each on the consent page: the callback's `scope` parameter says what was granted. When
 * activity scopes were asked for and none was granted there is nothing to sync: `scope_denied`.
 */
export const strava: ProviderAdapter = {
  name: 'strava',
  urls: {
    authorize: 'https://www.strava.com/oauth/authorize',
    token: 'https://www.strava.com/oauth/token',
  },
  clientAuthentication: 'body',
  pkce: false,
  scopes: { default: ['read', 'activity:read_all'], separator: ',' },
  refresh: true,

  tokenAnswer(answer) {
    if (answer.status < 400 || member(answer.body, 'error') !== undefined) return answer;
    const errors = member(answer.body, 'errors');
    const resource = Array.isArray(errors) ? member(errors[0], 'resource') : undefined;
    return { status: answer.status, body: { error: (typeof resource === 'string' && ERROR_BY_RESOURCE[resource]) || 'invalid_request' } };
  },

  async afterExchange(tokens, { callbackParams, requestedScopes }) {
    const athlete = tokens.raw.athlete;
    const username = member(athlete, 'username');
    const scope = callbackParams.get('scope');
    const granted = scopesOf(scope);
    if (scope !== null && requestedScopes.some(isActivity) && !granted.some(isActivity)) {
      throw new ProviderError('scope_denied', 'strava', 'the user granted Strava no activity scope');
    }
    return {
      providerUserId: userId(member(athlete, 'id'), 'strava', 'token answer (athlete.id)'),
      providerUsername: typeof username === 'string' && username !== '' ? username : null,
      scope,
    };
  },

  deregister(accessToken, { http }) {
    // The token goes in the form body, not the URL, where logs could keep it.
    return http.request(DEAUTHORIZE, { method: 'POST', body: new URLSearchParams({ access_token: accessToken }) });
  },

  /**
   * Strava's webhook events (developers.strava.com/docs/webhooks): an athlete who revokes the app is
   * `{"object_type": "athlete", "aspect_type": "update", "owner_id", "updates": {"authorized": "false"}}`.
   * Activity events are pushes of data this service does not handle ([]). Strava does not sign events;
   * the subscription is validated by a GET with hub.verify_token (see ProviderNoticesController).
   */
  notices: {
    read(body) {
      const objectType = member(body, 'object_type');
      const owner = noticeUserId(member(body, 'owner_id'));
      if (typeof objectType !== 'string' || owner === undefined) return undefined;
      const authorized = member(member(body, 'updates'), 'authorized');
      if (objectType === 'athlete' && (authorized === 'false' || authorized === false)) return [{ kind: 'deauthorized', providerUserId: owner }];
      return [];
    },
  },
};

const isActivity = (scope: string): boolean => scope.startsWith('activity:');
