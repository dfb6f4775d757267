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
 * - per client address, failed authentications: past the limit, that address gets 429 for every
 *   attempt, right or wrong, until the block ends, so guessing keys is slow;
 * - per API key, every request, whatever the route.
 * The counters live in a RateLimitStorage, which implements @nestjs/throttler's ThrottlerStorage
 * (in memory, or in Redis to share them between instances). ThrottlerGuard itself is not used:
 * it looks up six pieces of route metadata per request, for per-route limits this API has not.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
    @Inject(RATE_LIMIT_STORAGE) private readonly limits: RateLimitStorage,
    @Inject(AUTH_OPTIONS) private readonly options: AuthOptions,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
    const reply = http.getResponse<FastifyReply>();
    const failures = `auth-failure:${request.ip}`;
    const blockedFor = await this.limits.blockedFor(failures);
    if (blockedFor > 0) throw tooManyFailures(reply, blockedFor);

    const key = request.headers['x-api-key'];
    const principal =
      typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH ? await this.apiKeys.authenticate(key) : null;
    if (!principal) {
      const record = await this.limits.increment(failures, MINUTE_MS, this.options.authFailureLimitPerMinute, MINUTE_MS, 'auth-failure');
      if (record.isBlocked) throw tooManyFailures(reply, record.timeToBlockExpire);
      throw new UnauthorizedException(INVALID_KEY);
    }

    const limit = this.options.rateLimitPerMinute;
    const usage = await this.limits.increment(`key:${principal.keyId}`, MINUTE_MS, limit, MINUTE_MS, 'api-key');
    reply.header('X-RateLimit-Limit', limit);
    reply.header('X-RateLimit-Remaining', Math.max(0, limit - usage.totalHits));
    reply.header('X-RateLimit-Reset', usage.timeToExpire);
    if (usage.isBlocked) {
      reply.header('Retry-After', usage.timeToBlockExpire);
      throw new ThrottlerException(
        `Rate limit exceeded: ${limit} requests per minute per API key; retry after ${usage.timeToBlockExpire} s`,
      );
    }

    const needed = this.reflector.getAllAndOverride<Scope>(REQUIRED_SCOPE, targets) ?? 'admin';
    if (!grants(principal.scopes, needed)) {
      throw new ForbiddenException(`This API key lacks the "${needed}" scope`);
    }
    request.principal = principal;
    return true;
  }
}

function tooManyFailures(reply: FastifyReply, seconds: number): HttpException {
  reply.header('Retry-After', String(seconds));
  return new HttpException(
    `Too many failed authentication attempts from this address; retry after ${seconds} s`,
    HttpStatus.TOO_MANY_REQUESTS,
  );
}
