import { describe, expect, it } from 'vitest';
import { ConfigError } from './app.config.js';
import { loadBackgroundConfig } from './background.config.js';

describe('loadBackgroundConfig', () => {
  it('has the documented defaults', () => {
    expect(loadBackgroundConfig({})).toEqual({
      refresh: { intervalSeconds: 60, aheadSeconds: 600, concurrency: 4, retryDelaysSeconds: [60, 300, 900, 3600] },
      jobs: { pollIntervalMs: 1000, concurrency: 4 },
      deregistrationRetryDelaysSeconds: [60, 300, 900, 3600],
      leaseMarginSeconds: 30,
    });
  });

  it('reads every variable', () => {
    expect(
      loadBackgroundConfig({
        REFRESH_INTERVAL_SECONDS: '5',
        REFRESH_AHEAD_SECONDS: '120',
        REFRESH_CONCURRENCY: '16',
        REFRESH_RETRY_DELAYS_SECONDS: '1, 2.5,10',
        JOBS_POLL_INTERVAL_MS: '200',
        JOBS_CONCURRENCY: '8',
        DEREGISTRATION_RETRY_DELAYS_SECONDS: '30',
        LEASE_MARGIN_SECONDS: '5',
      }),
    ).toEqual({
      refresh: { intervalSeconds: 5, aheadSeconds: 120, concurrency: 16, retryDelaysSeconds: [1, 2.5, 10] },
      jobs: { pollIntervalMs: 200, concurrency: 8 },
      deregistrationRetryDelaysSeconds: [30],
      leaseMarginSeconds: 5,
    });
  });

  it.each([
    ['REFRESH_INTERVAL_SECONDS', '0'],
    ['REFRESH_CONCURRENCY', '1.5'],
    ['REFRESH_AHEAD_SECONDS', '-1'],
    ['JOBS_POLL_INTERVAL_MS', 'soon'],
    ['REFRESH_RETRY_DELAYS_SECONDS', '60,,300'],
    ['REFRESH_RETRY_DELAYS_SECONDS', '0'],
    ['DEREGISTRATION_RETRY_DELAYS_SECONDS', '100000'],
    ['LEASE_MARGIN_SECONDS', '0'],
  ])('a bad %s (%s) is a ConfigError naming it', (name, value) => {
    expect(() => loadBackgroundConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadBackgroundConfig({ [name]: value })).toThrow(name);
  });
});
