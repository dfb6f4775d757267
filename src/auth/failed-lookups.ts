import { Inject, Injectable } from '@nestjs/common';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import type { RateLimitStorage } from './rate-limit.storage.js';

const MINUTE_MS = 60_000;

/** What can be guessed at: API keys (AuthService), and the public routes' secrets in URLs; each kind counts its failures apart. */
export type LookupKind = 'auth' | 'connect-link' | 'provider-webhook';

/**
 * Failed lookups of a secret (an API key, a connect link's token, a provider's webhook token), counted
 * per client address and kind, AUTH_FAILURE_LIMIT_PER_MINUTE each, in the rate-limit storage (memory
 * or Redis). Only a failure counts, and a right secret is served whether or not its
 * address is blocked: many users may share an address, and a 256-bit secret cannot be guessed, so
 * serving it gives a guesser nothing.
 */
@Injectable()
export class FailedLookups {
  constructor(
    @Inject(RATE_LIMIT_STORAGE) private readonly limits: RateLimitStorage,
    @Inject(AUTH_OPTIONS) private readonly options: AuthOptions,
  ) {}

  /** Counts a failed lookup from the address: undefined while it may go on, else the seconds its block lasts. */
  async failed(kind: LookupKind, address: string): Promise<number | undefined> {
    const record = await this.limits.hit(`${kind}-failure:${address}`, MINUTE_MS, this.options.authFailureLimitPerMinute, MINUTE_MS);
    return record.isBlocked ? record.timeToBlockExpire : undefined;
  }
}
