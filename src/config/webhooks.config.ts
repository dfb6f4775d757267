import { delays, type Env, flag, integer } from './env-values.js';

/** The consumer webhooks' settings. */
export interface WebhooksConfig {
  /** `WEBHOOK_TIMEOUT_MS` (15000): a delivery that has not answered 2xx by then failed. */
  timeoutMs: number;
  /**
   * `WEBHOOK_RETRY_DELAYS_SECONDS` (5,300,1800,7200,18000,36000,36000): the delays after each failed
   * attempt; once they are used up the delivery is `failed`.
   */
  retryDelaysSeconds: number[];
  /** `WEBHOOK_DISABLE_AFTER_SECONDS` (432000, 5 days): an endpoint whose every delivery has failed this long is disabled. */
  disableAfterSeconds: number;
  /** `WEBHOOK_CONCURRENCY` (128): deliveries under way at once, per instance. */
  concurrency: number;
  /** `WEBHOOK_ENDPOINT_CONCURRENCY` (32): deliveries under way at once to one endpoint, per instance. */
  endpointConcurrency: number;
  /** `WEBHOOK_POLL_INTERVAL_MS` (1000): how often an instance looks for due deliveries (its own commits wake it within 20 ms). */
  pollIntervalMs: number;
  /**
   * `WEBHOOK_ALLOW_INSECURE_URLS` (false): endpoints may be http:// and reach loopback, private,
   * link-local and metadata addresses. For tests and local development only; start-up warns.
   */
  allowInsecureUrls: boolean;
}

const DEFAULT_DELAYS = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/** Reads and validates the webhooks' variables; throws a ConfigError naming the first bad one. */
export function loadWebhooksConfig(env: Env): WebhooksConfig {
  return {
    timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 15_000, 100, 120_000),
    retryDelaysSeconds: delays(env, 'WEBHOOK_RETRY_DELAYS_SECONDS', DEFAULT_DELAYS),
    disableAfterSeconds: integer(env, 'WEBHOOK_DISABLE_AFTER_SECONDS', 5 * 86_400, 1, 365 * 86_400),
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 128, 1, 1024),
    endpointConcurrency: integer(env, 'WEBHOOK_ENDPOINT_CONCURRENCY', 32, 1, 1024),
    pollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL_MS', 1000, 10, 3_600_000),
    allowInsecureUrls: flag(env, 'WEBHOOK_ALLOW_INSECURE_URLS'),
  };
}
