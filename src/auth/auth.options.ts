export interface AuthOptions {
  rateLimitPerMinute: number;
  authFailureLimitPerMinute: number;
  redisUrl?: string;
  /** Registered at start-up as an admin key, unless it already is (see BootstrapApiKey). */
  bootstrapApiKey?: string;
}

export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');
export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');
