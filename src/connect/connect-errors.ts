/**
 * Why a callback did not connect: the `error` of the redirect to the return_url and of the session.
 * - `access_denied`: the user refused at the provider (or the provider failed the consent).
 * - `invalid_state`: the state was used already, lapsed, or belongs to another provider's flow.
 * - `session_expired`: the session lapsed before its callback arrived.
 * - `session_used`: another callback already finished the session.
 * - `cookie_mismatch`: the callback arrived in a browser other than the one that started the flow.
 * - `exchange_failed`: the provider rejected the code, or answered something that is not valid.
 * - `provider_unavailable`: the provider did not answer in time (PROVIDER_TIMEOUT_MS), or failed.
 * - `scope_denied`: the user granted less than the connection needs.
 * - `account_in_use`: the provider account is already connected for another user (active, or expired
 *   and so able to come back with a refresh).
 * - `internal_error`: something failed here (the database, say) after the callback had claimed the
 *   session; nothing was connected unless GET /api/v1/connect-sessions/{id} says so. Start again.
 */
export const CONNECT_ERRORS = [
  'access_denied',
  'invalid_state',
  'session_expired',
  'session_used',
  'cookie_mismatch',
  'exchange_failed',
  'provider_unavailable',
  'scope_denied',
  'account_in_use',
  'internal_error',
] as const;
export type ConnectError = (typeof CONNECT_ERRORS)[number];

/** A page the browser gets instead of a redirect: why a link or a callback cannot go on. */
export type PageKind = 'not_found' | 'expired' | 'used' | 'exhausted' | 'blocked' | 'invalid_callback' | 'unavailable' | 'internal_error';
