import { Inject, Injectable } from '@nestjs/common';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import type { RateLimitStorage } from './rate-limit.storage.js';

const MINUTE_MS = 60_000;

/** The public routes whose secrets in the URL can be guessed at: each counts its failures apart. */
export type LookupKind = 'connect-link' | 'provider-webhook';

/**
 * Failed lookups of a secret in a public URL (a connect link's token, a provider's webhook token),
 * counted per client address as failed authentications are (AUTH_FAILURE_LIMIT_PER_MINUTE, in the same
 * storage: memory or Redis). Only a failure counts, and a right secret is served whether or not its
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
