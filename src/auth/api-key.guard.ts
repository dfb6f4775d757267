import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService, type Principal } from './api-keys.service.js';
import { IS_PUBLIC } from './public.decorator.js';
import { REQUIRED_SCOPE } from './require-scope.decorator.js';
import { grants, type Scope } from './scopes.js';

export const INVALID_KEY = 'Invalid or missing API key';

/** Global guard: every route needs a valid `X-API-Key` with the route's scope, unless marked @Public(). */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    const key = request.headers['x-api-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw new UnauthorizedException(INVALID_KEY);
    const principal = await this.apiKeys.authenticate(key);
    if (!principal) throw new UnauthorizedException(INVALID_KEY);

    const needed = this.reflector.getAllAndOverride<Scope>(REQUIRED_SCOPE, targets) ?? 'admin';
    if (!grants(principal.scopes, needed)) {
      throw new ForbiddenException(`This API key lacks the "${needed}" scope`);
    }
    request.principal = principal;
    return true;
  }
}
