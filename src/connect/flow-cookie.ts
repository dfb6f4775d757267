import type { Provider } from '../connections/providers.js';

/**
 * The flow cookie: it binds a provider flow's `state` to the browser that started it, so that a callback
 * arriving in any other browser is refused (cookie_mismatch). Written by hand rather than through
 * @fastify/cookie: the service sets exactly one cookie, of one fixed shape, and reads one, which is less
 * code than registering a plugin and its options on a host's Fastify instance.
 *
 * One cookie per provider (`wc_connect_<provider>`), so that a user who starts two providers' flows in
 * one session finishes either. Its value is random (32 bytes, base64url); only its hash is stored, with
 * the state.
 */

/** How long a flow may take, from its start to the provider's callback: the state's lifetime too. */
export const FLOW_TTL_SECONDS = 600;

const COOKIE_PREFIX = 'wc_connect_';

export function flowCookieName(provider: Provider): string {
  return `${COOKIE_PREFIX}${provider}`;
}

export interface CookieScope {
  /** The path the browser sends it to: `{PUBLIC_URL's path}/oauth`, where the callbacks are. */
  path: string;
  /** Sent over https only: when PUBLIC_URL is https. */
  secure: boolean;
}

/** The scope of the flow cookies under PUBLIC_URL. */
export function flowCookieScope(publicUrl: string): CookieScope {
  const url = new URL(publicUrl);
  return { path: `${url.pathname.replace(/\/+$/, '')}/oauth`, secure: url.protocol === 'https:' };
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{1,256}$/;
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/;

/** A Set-Cookie header value: HttpOnly, SameSite=Lax, Secure over https, for FLOW_TTL_SECONDS (0: clears it). */
export function serializeFlowCookie(name: string, value: string, scope: CookieScope, maxAgeSeconds = FLOW_TTL_SECONDS): string {
  if (!COOKIE_VALUE.test(name) || !(value === '' || COOKIE_VALUE.test(value))) throw new Error('A flow cookie name or value is not a token');
  if (!COOKIE_PATH.test(scope.path)) throw new Error('The flow cookie path has a character a cookie cannot carry');
  const parts = [`${name}=${value}`, `Path=${scope.path}`, `Max-Age=${maxAgeSeconds}`, 'HttpOnly', 'SameSite=Lax'];
  if (scope.secure) parts.push('Secure');
  return parts.join('; ');
}

/** The Set-Cookie header value that removes the cookie from the browser. */
export function clearedFlowCookie(name: string, scope: CookieScope): string {
  return serializeFlowCookie(name, '', scope, 0);
}

/**
 * The value of the cookie `name` in a Cookie request header, if it is there once and well formed. A
 * browser sends one value per name for one path; two (another path's, or a planted one) are refused
 * rather than guessed between.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  let count = 0;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    count++;
    found = pair.slice(equals + 1).trim();
  }
  return count === 1 && found !== undefined && COOKIE_VALUE.test(found) ? found : undefined;
}
