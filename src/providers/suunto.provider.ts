import { bearer, member, userId } from './adapter-support.js';
import type { ProviderAdapter } from './provider-adapter.js';

const DEAUTHORIZE = 'https://cloudapi-oauth.suunto.com/oauth/deauthorize';

/**
 * Suunto Cloud API (apizone.suunto.com). The token endpoint takes HTTP Basic; the access token is a JWT
 * whose `user` claim is the Suunto username, the id Suunto's API and webhooks use. Scopes come with
 * the partner agreement, so none is asked for. Calls to Suunto's API (cloudapi.suunto.com) also carry
 * SUUNTO_SUBSCRIPTION_KEY as Ocp-Apim-Subscription-Key; the OAuth host does not need it.
 */
export const suunto: ProviderAdapter = {
  name: 'suunto',
  urls: {
    authorize: 'https://cloudapi-oauth.suunto.com/oauth/authorize',
    token: 'https://cloudapi-oauth.suunto.com/oauth/token',
  },
  clientAuthentication: 'basic',
  pkce: false,
  scopes: { default: [], separator: ' ' },
  refresh: true,

  async afterExchange(tokens) {
    const user = userId(member(jwtClaims(tokens.accessToken), 'user'), 'suunto', 'access token (its user claim)');
    return { providerUserId: user, providerUsername: user };
  },

  deregister(accessToken, { http, clientId }) {
    return http.request(`${DEAUTHORIZE}?${new URLSearchParams({ client_id: clientId })}`, { headers: bearer(accessToken) });
  },
};

/**
 * The claims of a JWT, read without checking its signature: the token came straight from Suunto's token
 * endpoint over TLS, and only the account it names is read. Undefined when it is not a JWT.
 */
function jwtClaims(token: string): unknown {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
