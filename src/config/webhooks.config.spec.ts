import { describe, expect, it } from 'vitest';
import { ConfigError } from './app.config.js';
import { loadWebhooksConfig } from './webhooks.config.js';

describe('loadWebhooksConfig', () => {
  it('has the documented defaults: 15 s, retries after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, disabled after 5 days, https only', () => {
    expect(loadWebhooksConfig({})).toEqual({
      timeoutMs: 15_000,
      retryDelaysSeconds: [5, 300, 1800, 7200, 18_000, 36_000, 36_000],
      disableAfterSeconds: 432_000,
      concurrency: 128,
      endpointConcurrency: 32,
      pollIntervalMs: 1000,
      allowInsecureUrls: false,
    });
  });

  it('reads every variable', () => {
    expect(
      loadWebhooksConfig({
        WEBHOOK_TIMEOUT_MS: '2000',
        WEBHOOK_RETRY_DELAYS_SECONDS: '1, 2.5',
        WEBHOOK_DISABLE_AFTER_SECONDS: '60',
        WEBHOOK_CONCURRENCY: '64',
        WEBHOOK_ENDPOINT_CONCURRENCY: '8',
        WEBHOOK_POLL_INTERVAL_MS: '250',
        WEBHOOK_ALLOW_INSECURE_URLS: 'true',
      }),
    ).toEqual({ timeoutMs: 2000, retryDelaysSeconds: [1, 2.5], disableAfterSeconds: 60, concurrency: 64, endpointConcurrency: 8, pollIntervalMs: 250, allowInsecureUrls: true });
  });

  it.each([
    ['WEBHOOK_TIMEOUT_MS', '10'],
    ['WEBHOOK_RETRY_DELAYS_SECONDS', '5,,300'],
    ['WEBHOOK_RETRY_DELAYS_SECONDS', '0'],
    ['WEBHOOK_CONCURRENCY', '0'],
    ['WEBHOOK_ALLOW_INSECURE_URLS', 'maybe'],
  ])('a bad %s (%s) is a ConfigError naming it', (name, value) => {
    expect(() => loadWebhooksConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadWebhooksConfig({ [name]: value })).toThrow(name);
  });
});
