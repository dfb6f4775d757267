import type { Provider } from '../connections/providers.js';

/**
 * Why a provider call failed:
 * - `access_denied`: the callback carries an error (the user refused, or the provider failed the consent).
 * - `exchange_failed`: the provider rejected the code (or its answer, or a callback, is malformed).
 * - `scope_denied`: the user granted less than the connection needs (see each adapter).
 * - `provider_unavailable`: no answer within PROVIDER_TIMEOUT_MS, a network error, or HTTP 5xx / 429.
 * - `refresh_rejected`: the provider answered `invalid_grant` to a refresh: the grant is gone, reconnect.
 * - `deregistration_failed`: the provider refused to deregister the user.
 */
export const PROVIDER_ERROR_CODES = [
  'access_denied',
  'exchange_failed',
  'scope_denied',
  'provider_unavailable',
  'refresh_rejected',
  'deregistration_failed',
] as const;
export type ProviderErrorCode = (typeof PROVIDER_ERROR_CODES)[number];

/**
 * A provider call that failed. Its message names the provider and what went wrong, and never holds a
 * token, code, state, verifier or secret; it has no `cause`, since the library's errors carry the
 * provider's answer, tokens and all.
 */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';

  constructor(
    readonly code: ProviderErrorCode,
    readonly provider: Provider,
    message: string,
    /** The OAuth error code of the provider's answer or the callback (`invalid_grant`, `access_denied`…), when it gave one. */
    readonly oauthError?: string,
    /** How long the provider asked to wait before trying again (its Retry-After), when it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** A provider without both `P_CLIENT_ID` and `P_CLIENT_SECRET` was asked to do something. */
export class ProviderNotConfiguredError extends Error {
  override readonly name = 'ProviderNotConfiguredError';

  constructor(readonly provider: Provider) {
    super(`${provider} is not configured: set ${provider.toUpperCase()}_CLIENT_ID and ${provider.toUpperCase()}_CLIENT_SECRET`);
  }
}

/** An OAuth error code as a provider may send it, or undefined for anything else (which is never echoed). */
export function oauthErrorCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : undefined;
}

/** The longest Retry-After honoured: a provider asking for more is tried again after a day. */
const MAX_RETRY_AFTER_MS = 86_400_000;

/** A Retry-After header (seconds, or an HTTP date) in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^[0-9]{1,10}$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), MAX_RETRY_AFTER_MS);
}
