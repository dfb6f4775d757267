import { isIP } from 'node:net';
import { type Provider, PROVIDERS } from '../connections/providers.js';
import { ConfigError } from './env-values.js';

/** One provider's OAuth client, as the environment gives it (`GARMIN_CLIENT_ID`, …). */
export interface ProviderSettings {
  /** `P_CLIENT_ID`; with clientSecret, it makes the provider connectable. */
  clientId?: string;
  /** `P_CLIENT_SECRET`. */
  clientSecret?: string;
  /** `P_SCOPES`: replaces the adapter's default scopes when set. */
  scopes?: string[];
  /**
   * `P_BASE_URL`, as an origin (`https://sandbox.example:8443`): replaces the scheme, host and port of
   * every URL of the provider (authorization, token and API hosts alike), each path kept.
   */
  baseUrl?: string;
  /**
   * `P_WEBHOOK_TOKEN`: the secret in the URL registered with the provider for its notices
   * (`/webhooks/providers/{provider}/{token}`); without it the provider's notices are not accepted.
   */
  webhookToken?: string;
}

export interface ProvidersConfig {
  /** All nine providers, configured or not. */
  byProvider: Record<Provider, ProviderSettings>;
  /** `SUUNTO_SUBSCRIPTION_KEY`: Suunto's API Management key, sent with calls to Suunto's API. */
  suuntoSubscriptionKey?: string;
  /** `PROVIDER_TIMEOUT_MS`: how long one request to a provider may take before it counts as unavailable. */
  providerTimeoutMs: number;
  /** `STRAVA_WEBHOOK_VERIFY_TOKEN`: what Strava's subscription validation must send as `hub.verify_token`. */
  stravaWebhookVerifyToken?: string;
}

type Env = Record<string, string | undefined>;

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 600_000;

/** The environment variables' prefix of a provider: `GARMIN` for garmin. */
export const envPrefix = (provider: Provider): string => provider.toUpperCase();

/**
 * Reads and validates the providers' variables; throws a ConfigError naming the first bad one. No
 * message ever contains a client secret or a base URL's value (which could carry credentials).
 */
export function loadProvidersConfig(env: Env): ProvidersConfig {
  const byProvider = Object.fromEntries(PROVIDERS.map((provider) => [provider, providerSettings(env, provider)])) as Record<
    Provider,
    ProviderSettings
  >;
  return {
    byProvider,
    suuntoSubscriptionKey: env.SUUNTO_SUBSCRIPTION_KEY?.trim() || undefined,
    providerTimeoutMs: timeout(env),
    stravaWebhookVerifyToken: webhookSecret(env, 'STRAVA_WEBHOOK_VERIFY_TOKEN'),
  };
}

function providerSettings(env: Env, provider: Provider): ProviderSettings {
  const prefix = envPrefix(provider);
  const clientId = env[`${prefix}_CLIENT_ID`]?.trim() || undefined;
  const clientSecret = env[`${prefix}_CLIENT_SECRET`]?.trim() || undefined;
  // One of the pair without the other is a mistake, not a choice to leave the provider out.
  if (clientId && !clientSecret) throw new ConfigError(`${prefix}_CLIENT_SECRET is required when ${prefix}_CLIENT_ID is set`);
  if (clientSecret && !clientId) throw new ConfigError(`${prefix}_CLIENT_ID is required when ${prefix}_CLIENT_SECRET is set`);
  const scopes = env[`${prefix}_SCOPES`]?.split(/[\s,]+/).filter(Boolean);
  return {
    clientId,
    clientSecret,
    scopes: scopes?.length ? scopes : undefined,
    baseUrl: baseUrl(env, `${prefix}_BASE_URL`),
    webhookToken: webhookSecret(env, `${prefix}_WEBHOOK_TOKEN`),
  };
}

/** A secret a provider sends back (in a URL or a query): 16 to 200 URL-safe characters. */
function webhookSecret(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  if (!/^[A-Za-z0-9._~-]{16,200}$/.test(raw)) {
    throw new ConfigError(`${name} must be 16 to 200 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-' (make one with: openssl rand -hex 32)`);
  }
  return raw;
}

function baseUrl(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const expected = `${name} must be a URL with only a scheme, host and port, such as https://sandbox.example.com:8443`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(expected);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${name} must start with https:// or http://`);
  if (url.username || url.password) throw new ConfigError(`${name} must not contain credentials`);
  // Every path of the provider is kept under the base URL, so a path of its own would be silently dropped.
  if (url.pathname !== '/' || url.search || url.hash || raw.endsWith('?') || raw.endsWith('#')) {
    throw new ConfigError(`${expected}: a path, query or fragment is not allowed`);
  }
  return url.origin;
}

/** Whether a URL's hostname is this machine, where plain http is no risk (tests, local sandboxes). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function timeout(env: Env): number {
  const raw = env.PROVIDER_TIMEOUT_MS?.trim();
  if (!raw) return DEFAULT_TIMEOUT_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) {
    throw new ConfigError(`PROVIDER_TIMEOUT_MS must be an integer from 1 to ${MAX_TIMEOUT_MS}, got "${raw}"`);
  }
  return value;
}
