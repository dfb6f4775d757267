import type { Provider } from '../connections/providers.js';
import { ProviderError } from './provider-error.js';

/** The Authorization header of a call with the user's access token. */
export const bearer = (accessToken: string): Record<string, string> => ({ authorization: `Bearer ${accessToken}` });

/** A member of a JSON object, or undefined when `value` is not one. */
export function member(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

/** A provider's user id (a number or a non-empty string) as a string; anything else fails the exchange. */
export function userId(value: unknown, provider: Provider, where: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '' && value.length <= 255) return value;
  throw new ProviderError('exchange_failed', provider, `${provider}'s ${where} has no user id`);
}

/** The scopes of a granted-scope string, whichever separator the provider used. */
export function scopesOf(scope: string | null | undefined): string[] {
  return (scope ?? '').split(/[\s,]+/).filter(Boolean);
}

/** An account id in a provider's notice (a number or a short non-empty string) as a string; undefined for anything else. */
export function noticeUserId(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '' && value.length <= 255) return value;
  return undefined;
}
