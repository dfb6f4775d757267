import { delays, type Env, integer } from './env-values.js';

/** The background work's settings: the refresher's and the jobs worker's. */
export interface BackgroundConfig {
  refresh: {
    /** `REFRESH_INTERVAL_SECONDS` (60): how often the refresher looks for connections to refresh. */
    intervalSeconds: number;
    /** `REFRESH_AHEAD_SECONDS` (600): a connection is refreshed once its access token lapses within this. */
    aheadSeconds: number;
    /** `REFRESH_CONCURRENCY` (4): refreshes under way at once, per instance. */
    concurrency: number;
    /** `REFRESH_RETRY_DELAYS_SECONDS` (60,300,900,3600): the delays after a failed refresh, the last one repeated. */
    retryDelaysSeconds: number[];
  };
  jobs: {
    /** `JOBS_POLL_INTERVAL_MS` (1000): how often an instance looks for due work items. */
    pollIntervalMs: number;
    /** `JOBS_CONCURRENCY` (4): work items under way at once, per instance. */
    concurrency: number;
  };
  /** `DEREGISTRATION_RETRY_DELAYS_SECONDS` (60,300,900,3600): delays after a failed deregistration, the last repeated for a day. */
  deregistrationRetryDelaysSeconds: number[];
  /**
   * `LEASE_MARGIN_SECONDS` (30): a refresh's or a work item's lease lasts its provider calls at their
   * longest (3 × PROVIDER_TIMEOUT_MS) plus this, the time to store the outcome; a claim whose holder
   * died is taken over once it lapses.
   */
  leaseMarginSeconds: number;
}


const DEFAULT_DELAYS = [60, 300, 900, 3600];

/** Reads and validates the background work's variables; throws a ConfigError naming the first bad one. */
export function loadBackgroundConfig(env: Env): BackgroundConfig {
  return {
    refresh: {
      intervalSeconds: integer(env, 'REFRESH_INTERVAL_SECONDS', 60, 1, 86_400),
      aheadSeconds: integer(env, 'REFRESH_AHEAD_SECONDS', 600, 0, 7 * 86_400),
      concurrency: integer(env, 'REFRESH_CONCURRENCY', 4, 1, 256),
      retryDelaysSeconds: delays(env, 'REFRESH_RETRY_DELAYS_SECONDS', DEFAULT_DELAYS),
    },
    jobs: {
      pollIntervalMs: integer(env, 'JOBS_POLL_INTERVAL_MS', 1000, 10, 3_600_000),
      concurrency: integer(env, 'JOBS_CONCURRENCY', 4, 1, 256),
    },
    deregistrationRetryDelaysSeconds: delays(env, 'DEREGISTRATION_RETRY_DELAYS_SECONDS', DEFAULT_DELAYS),
    leaseMarginSeconds: integer(env, 'LEASE_MARGIN_SECONDS', 30, 1, 3_600),
  };
}
