import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../connections/providers.js';
import { ConfigError, loadConfig } from './app.config.js';
import { loadProvidersConfig } from './providers.config.js';

const SECRET = 'a-client-secret-that-must-never-be-echoed';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadProvidersConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadProvidersConfig accepted ${JSON.stringify(env)}`);
}

describe('loadProvidersConfig', () => {
  it('without variables: all nine providers unconfigured, a 10 s timeout, no Suunto key', () => {
    const config = loadProvidersConfig({});
    expect(Object.keys(config.byProvider)).toEqual([...PROVIDERS]);
    for (const provider of PROVIDERS) {
      expect(config.byProvider[provider]).toEqual({ clientId: undefined, clientSecret: undefined, scopes: undefined, baseUrl: undefined, webhookToken: undefined });
    }
    expect(config.providerTimeoutMs).toBe(10_000);
    expect(config.suuntoSubscriptionKey).toBeUndefined();
    expect(config.stravaWebhookVerifyToken).toBeUndefined();
  });

  it("reads each provider's webhook token and Strava's verify token, and refuses one that is short or not URL-safe without echoing it", () => {
    const token = randomToken();
    const config = loadProvidersConfig({ GARMIN_WEBHOOK_TOKEN: ` ${token} `, STRAVA_WEBHOOK_VERIFY_TOKEN: 'verify-token-0123456789' });
    expect(config.byProvider.garmin.webhookToken).toBe(token);
    expect(config.byProvider.strava.webhookToken).toBeUndefined();
    expect(config.stravaWebhookVerifyToken).toBe('verify-token-0123456789');
    for (const bad of ['short-token', 'a token with spaces in it', `${token}/x`, 'x'.repeat(201)]) {
      const error = configError({ STRAVA_WEBHOOK_TOKEN: bad });
      expect(error.message).toMatch(/^STRAVA_WEBHOOK_TOKEN must be 16 to 200 characters/);
      expect(error.message).not.toContain(bad);
    }
  });

  it("reads each provider's client, scopes (space- or comma-separated) and base URL, the timeout and Suunto's key", () => {
    const config = loadProvidersConfig({
      STRAVA_CLIENT_ID: ' 12345 ',
      STRAVA_CLIENT_SECRET: SECRET,
      STRAVA_SCOPES: 'read, activity:read_all',
      STRAVA_BASE_URL: 'https://strava-sandbox.example:8443/',
      WHOOP_CLIENT_ID: 'whoop-id',
      WHOOP_CLIENT_SECRET: 'whoop-secret',
      WHOOP_SCOPES: 'offline read:sleep',
      SUUNTO_SUBSCRIPTION_KEY: 'apim-key',
      PROVIDER_TIMEOUT_MS: '2500',
    });
    expect(config.byProvider.strava).toEqual({
      clientId: '12345',
      clientSecret: SECRET,
      scopes: ['read', 'activity:read_all'],
      baseUrl: 'https://strava-sandbox.example:8443',
      webhookToken: undefined,
    });
    expect(config.byProvider.whoop).toEqual({ clientId: 'whoop-id', clientSecret: 'whoop-secret', scopes: ['offline', 'read:sleep'], baseUrl: undefined, webhookToken: undefined });
    expect(config.byProvider.garmin.clientId).toBeUndefined();
    expect(config.suuntoSubscriptionKey).toBe('apim-key');
    expect(config.providerTimeoutMs).toBe(2500);
  });

  it('treats empty values as unset', () => {
    expect(loadProvidersConfig({ OURA_CLIENT_ID: '', OURA_CLIENT_SECRET: ' ', OURA_SCOPES: ' , ', OURA_BASE_URL: '', PROVIDER_TIMEOUT_MS: '' })).toEqual(
      loadProvidersConfig({}),
    );
  });

  it('a client id without its secret, or a secret without its id, names the missing variable', () => {
    expect(configError({ GARMIN_CLIENT_ID: 'garmin-id' }).message).toBe('GARMIN_CLIENT_SECRET is required when GARMIN_CLIENT_ID is set');
    const error = configError({ POLAR_CLIENT_SECRET: SECRET });
    expect(error.message).toBe('POLAR_CLIENT_ID is required when POLAR_CLIENT_SECRET is set');
    expect(error.message).not.toContain(SECRET);
  });

  it('accepts an http:// base URL, for tests and sandboxes (start-up warns about one off this machine)', () => {
    for (const url of ['http://127.0.0.1:4567', 'http://localhost:8080', 'http://[::1]:9000', 'http://127.1.2.3', 'http://provider-sandbox.test', 'http://10.0.0.7:8080']) {
      expect(loadProvidersConfig({ COROS_BASE_URL: url }).byProvider.coros.baseUrl, url).toBe(new URL(url).origin);
    }
  });

  const badBaseUrls: [what: string, value: string][] = [
    ['not a URL', 'provider-sandbox.test'],
    ['another scheme', 'ftp://provider-sandbox.test'],
    ['a path', 'https://provider-sandbox.test/api'],
    ['a query', 'https://provider-sandbox.test/?tenant=1'],
    ['a fragment', 'https://provider-sandbox.test/#top'],
    ['credentials', `https://user:${SECRET}@provider-sandbox.test`],
  ];
  for (const [what, value] of badBaseUrls) {
    it(`refuses a base URL with ${what}, naming the variable and not echoing the value`, () => {
      const error = configError({ WITHINGS_BASE_URL: value });
      expect(error.message).toMatch(/^WITHINGS_BASE_URL /);
      expect(error.message).not.toContain(value);
      expect(error.message).not.toContain(SECRET);
    });
  }

  it('refuses a timeout that is not a whole number of milliseconds from 1 to 600000', () => {
    for (const value of ['0', '-5', '1.5', 'ten', '600001']) {
      expect(configError({ PROVIDER_TIMEOUT_MS: value }).message).toMatch(/^PROVIDER_TIMEOUT_MS must be an integer from 1 to 600000/);
    }
  });

  it("is AppConfig's `providers`, validated with the rest at start-up", () => {
    expect(loadConfig({ FITBIT_CLIENT_ID: 'google-client', FITBIT_CLIENT_SECRET: SECRET }).providers.byProvider.fitbit.clientId).toBe('google-client');
    expect(() => loadConfig({ FITBIT_CLIENT_ID: 'google-client' })).toThrow(ConfigError);
  });
});

function randomToken(): string {
  return Array.from({ length: 32 }, (_, i) => 'abcdef0123456789'[(i * 7 + 3) % 16]).join('');
}
