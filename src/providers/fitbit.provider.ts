import { member, scopesOf, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { ProviderError } from './provider-error.js';

const IDENTITY = 'https://health.googleapis.com/v4/users/me/identity';
const REVOKE = 'https://oauth2.googleapis.com/revoke';
const HEALTH_SCOPE = 'https://www.googleapis.com/auth/googlehealth.';

/**
 * Fitbit, through Google: the Fitbit Web API was shut down in 2026 and Fitbit data is served by the
 * Google Health API, so `fitbit` is Google's OAuth 2.0 for web servers with PKCE. `access_type=offline`
 * gets a refresh token and `prompt=consent` gets one on every consent, not only the first. Google's
 * consent page lets the user untick scopes: when none of the Google Health scopes asked for was
 * granted, that is `scope_denied`. A refresh does not rotate the refresh token.
 */
export const fitbit: ProviderAdapter = {
  name: 'fitbit',
  urls: {
    authorize: 'https://accounts.google.com/o/oauth2/v2/auth',
    token: 'https://oauth2.googleapis.com/token',
  },
  clientAuthentication: 'body',
  pkce: true,
  scopes: {
    default: [
      `${HEALTH_SCOPE}activity_and_fitness.readonly`,
      `${HEALTH_SCOPE}health_metrics_and_measurements.readonly`,
      `${HEALTH_SCOPE}sleep.readonly`,
      `${HEALTH_SCOPE}profile.readonly`,
    ],
    separator: ' ',
  },
  authorizeParams: { access_type: 'offline', prompt: 'consent' },
  issuer: 'https://accounts.google.com',
  refresh: true,

  async afterExchange(tokens, { http, requestedScopes }) {
    const asked = requestedScopes.filter(isHealthScope);
    if (tokens.scope !== null && asked.length > 0 && !scopesOf(tokens.scope).some((scope) => asked.includes(scope))) {
      throw new ProviderError('scope_denied', 'fitbit', 'the user granted none of the Google Health scopes asked for');
    }
    const identity = await http.getJson(IDENTITY, tokens.accessToken);
    return { providerUserId: userId(member(identity, 'healthUserId'), 'fitbit', 'identity (healthUserId)') };
  },

  deregister(accessToken, { http }) {
    // Revoking the access token revokes its refresh token too.
    return http.request(REVOKE, { method: 'POST', body: new URLSearchParams({ token: accessToken }) });
  },
};

const isHealthScope = (scope: string): boolean => scope.startsWith(HEALTH_SCOPE);
