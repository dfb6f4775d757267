import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ThrottlerException } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeysService, type Principal } from './api-keys.service.js';
import { AUTH_OPTIONS, type AuthOptions, RATE_LIMIT_STORAGE } from './auth.options.js';
import { IS_PUBLIC } from './public.decorator.js';
import type { RateLimitStorage } from './rate-limit.storage.js';
import { REQUIRED_SCOPE } from './require-scope.decorator.js';
import { grants, type Scope } from './scopes.js';

export const INVALID_KEY = 'Invalid or missing API key';
const MAX_KEY_LENGTH = 256;
const MINUTE_MS = 60_000;

/**
 * Global guard: every route needs a valid `X-API-Key` with the route's scope, unless marked @Public().
 *
 * It also applies both rate limits, as one guard, so that each request pays for one guard:
 * - per client address, failed authentications: past the limit, every wrong or missing key from that
 *   address gets 429 until the block ends, so guessing keys is slow. A valid key is still admitted:
 *   many clients may share an address (NAT, a load balancer), and one of them failing must not lock
 *   out the others; a 256-bit key cannot be guessed, so admitting it gives a guesser nothing;
 * - per API key, every request, whatever the route.
 * The counters live in a RateLimitStorage, which implements @nestjs/throttler's ThrottlerStorage
 * (in memory, or in Redis to share them between instances). ThrottlerGuard itself is not used:
 * it looks up six pieces of route metadata per request, for per-route limits this API has not.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  // A route's rules are its metadata, which does not change: looked up once per handler and class.
  private readonly rules = new WeakMap<object, WeakMap<object, RouteRules>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
    @Inject(RATE_LIMIT_STORAGE) private readonly limits: RateLimitStorage,
    @Inject(AUTH_OPTIONS) private readonly options: AuthOptions,
  ) {}

  /**
   * Synchronous where the answers are at hand (a cached key, counters in memory), so that a request
   * pays for no promise here; a step that has to wait (the database, Redis) returns one.
   * The key is checked first: a valid one is admitted whether or not its address is blocked, and
   * only a failure reads (and counts against) the address.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rules = this.rulesOf(context);
    if (rules.isPublic) return true;

    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
    const reply = http.getResponse<FastifyReply>();
    const key = request.headers['x-api-key'];
    const principal = typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH ? this.apiKeys.authenticate(key) : null;
    return then(principal, (found) => (found ? this.admit(found, rules.scope, request, reply) : this.refuse(request, reply)));
  }

  /** Counts the request against its key's limit, then checks the key's scope. */
  private admit(
    principal: Principal,
    needed: Scope,
    request: FastifyRequest & { principal?: Principal },
    reply: FastifyReply,
  ): boolean | Promise<boolean> {
    const limit = this.options.rateLimitPerMinute;
    return then(this.limits.hit(`key:${principal.keyId}`, MINUTE_MS, limit, MINUTE_MS), (usage) => {
      reply.header('X-RateLimit-Limit', limit);
      reply.header('X-RateLimit-Remaining', Math.max(0, limit - usage.totalHits));
      reply.header('X-RateLimit-Reset', usage.timeToExpire);
      if (usage.isBlocked) {
        reply.header('Retry-After', usage.timeToBlockExpire);
        throw new ThrottlerException(
          `Rate limit exceeded: ${limit} requests per minute per API key; retry after ${usage.timeToBlockExpire} s`,
        );
      }
      if (!grants(principal.scopes, needed)) {
        throw new ForbiddenException(`This API key lacks the "${needed}" scope`);
      }
      request.principal = principal;
      return true;
    });
  }

  /**
   * Counts a failed authentication against the address: 401, or 429 while the address is blocked.
   * Failures during a block count in their window as any other; they do not extend the block.
   */
  private refuse(request: FastifyRequest, reply: FastifyReply): Promise<never> | never {
    const failures = `auth-failure:${request.ip}`;
    return then(this.limits.hit(failures, MINUTE_MS, this.options.authFailureLimitPerMinute, MINUTE_MS), (record) => {
      if (record.isBlocked) throw tooManyFailures(reply, record.timeToBlockExpire);
      throw new UnauthorizedException(INVALID_KEY);
    });
  }

  private rulesOf(context: ExecutionContext): RouteRules {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byClass = this.rules.get(handler);
    if (!byClass) this.rules.set(handler, (byClass = new WeakMap()));
    let rules = byClass.get(controller);
    if (!rules) {
      const targets = [handler, controller];
      rules = {
        isPublic: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) === true,
        scope: this.reflector.getAllAndOverride<Scope>(REQUIRED_SCOPE, targets) ?? 'admin',
      };
      byClass.set(controller, rules);
    }
    return rules;
  }
}

interface RouteRules {
  isPublic: boolean;
  /** The scope a key needs; a route that names none needs admin. */
  scope: Scope;
}

/** `next(value)`, at once for a value, once it resolves for a promise. */
function then<T, R>(value: T | Promise<T>, next: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}

function tooManyFailures(reply: FastifyReply, seconds: number): HttpException {
  reply.header('Retry-After', String(seconds));
  return new HttpException(
    `Too many failed authentication attempts from this address; retry after ${seconds} s`,
    HttpStatus.TOO_MANY_REQUESTS,
  );
}
