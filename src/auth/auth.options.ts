export interface AuthOptions {
  rateLimitPerMinute: number;
  authFailureLimitPerMinute: number;
  redisUrl?: string;
}

export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');
export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');
