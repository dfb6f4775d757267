import type { IncomingHttpHeaders } from 'node:http';
import { ForbiddenException, HttpException, HttpStatus, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { ApiKeysService, type Principal } from './api-keys.service.js';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import { FailedLookups } from './failed-lookups.js';
import type { RateLimitRecord, RateLimitStorage } from './rate-limit.storage.js';
import { grants, type Scope } from './scopes.js';

export const INVALID_KEY = 'Invalid or missing API key';
/** Longer than any key: such a header is refused without being hashed or looked up. */
const MAX_KEY_LENGTH = 256;
const MINUTE_MS = 60_000;

/** What admit() reads of a request: its `X-API-Key` header and its client address. */
export interface AuthRequest {
  readonly headers: IncomingHttpHeaders;
  readonly ip: string;
}

/** Where admit() writes its response headers (a Fastify reply). */
export interface AuthReply {
  header(name: string, value: string | number): unknown;
}

/**
 * Who may call a route: a valid `X-API-Key` holding the route's scope, within two limits kept in a
 * RateLimitStorage (in memory, or in Redis to share them between instances):
 * - per API key, every request, whatever the route;
 * - per client address, failed authentications: past the limit, every wrong or missing key from
 *   that address gets 429 until the block ends, so guessing keys is slow.
 *
 * The key is checked first: a valid one is admitted whether or not its address is blocked, and only
 * a failure counts against the address. Many clients may share an address (NAT, a load balancer), and
 * one of them failing must not lock out the others; a 256-bit key cannot be guessed, so admitting it
 * gives a guesser nothing.
 */
@Injectable()
export class AuthService {
  /** Failed authentications per address: the same counter as the public routes' failed lookups, of its own kind. */
  private readonly failures: FailedLookups;

  constructor(
    private readonly apiKeys: ApiKeysService,
    @Inject(RATE_LIMIT_STORAGE) private readonly limits: RateLimitStorage,
    @Inject(AUTH_OPTIONS) private readonly options: AuthOptions,
  ) {
    this.failures = new FailedLookups(limits, options);
  }

  /**
   * The principal of a request to a route that needs `scope`, its request counted against its key
   * (the `X-RateLimit-*` headers say where it stands). Otherwise throws: 401 for a wrong or missing
   * key, 429 (with `Retry-After`) past either limit, 403 naming the scope the key lacks.
   */
  async admit(request: AuthRequest, reply: AuthReply, scope: Scope): Promise<Principal> {
    const key = request.headers['x-api-key'];
    const principal = typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH ? await this.apiKeys.authenticate(key) : null;
    if (!principal) throw await this.refusal(request.ip, reply);
    const limit = this.options.rateLimitPerMinute;
    return this.charged(principal, await this.limits.hit(`key:${principal.keyId}`, MINUTE_MS, limit, MINUTE_MS), reply, scope);
  }

  /**
   * admit(), answered at once when it can be: a key found in the key cache, counted in memory. It
   * returns undefined when only admit() can tell (a key to look up, a refusal to count, counters in
   * Redis). The guard runs it first on every request, so that the usual request waits on no promise.
   */
  admitNow(request: AuthRequest, reply: AuthReply, scope: Scope): Principal | undefined {
    const key = request.headers['x-api-key'];
    if (!this.limits.hitNow || typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
    const principal = this.apiKeys.cached(key);
    if (!principal) return undefined;
    const limit = this.options.rateLimitPerMinute;
    return this.charged(principal, this.limits.hitNow(`key:${principal.keyId}`, MINUTE_MS, limit, MINUTE_MS), reply, scope);
  }

  /** The principal once its request is counted: the X-RateLimit-* headers, then 429 past the limit or 403 without the scope. */
  private charged(principal: Principal, usage: RateLimitRecord, reply: AuthReply, scope: Scope): Principal {
    const limit = this.options.rateLimitPerMinute;
    reply.header('X-RateLimit-Limit', limit);
    reply.header('X-RateLimit-Remaining', Math.max(0, limit - usage.totalHits));
    reply.header('X-RateLimit-Reset', usage.timeToExpire);
    if (usage.isBlocked) {
      reply.header('Retry-After', usage.timeToBlockExpire);
      throw new HttpException(
        `Rate limit exceeded: ${limit} requests per minute per API key; retry after ${usage.timeToBlockExpire} s`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    if (!grants(principal.scopes, scope)) throw new ForbiddenException(`This API key lacks the "${scope}" scope`);
    return principal;
  }

  /** Counts a failed authentication against the address: 401, or 429 while the address is blocked. */
  private async refusal(address: string, reply: AuthReply): Promise<HttpException> {
    const seconds = await this.failures.failed('auth', address);
    if (seconds === undefined) return new UnauthorizedException(INVALID_KEY);
    reply.header('Retry-After', String(seconds));
    return new HttpException(`Too many failed authentication attempts from this address; retry after ${seconds} s`, HttpStatus.TOO_MANY_REQUESTS);
  }
}
