import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from './api-keys.service.js';
import { AuthService } from './auth.service.js';
import { IS_PUBLIC } from './public.decorator.js';
import { REQUIRED_SCOPE } from './require-scope.decorator.js';
import type { Scope } from './scopes.js';

interface RouteRules {
  isPublic: boolean;
  /** The scope a key needs; a route that names none needs admin. */
  scope: Scope;
}

/**
 * Global guard: every route needs a valid `X-API-Key` with the route's scope, unless marked @Public().
 * It reads the route's rules and asks AuthService, which authenticates the key and applies the rate
 * limits. Nest's ThrottlerGuard is not used: it reads six pieces of route metadata per request, for
 * per-route limits this API does not have.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  // A route's rules are its metadata, which does not change: looked up once per handler and class.
  private readonly rules = new WeakMap<object, WeakMap<object, RouteRules>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rules = this.rulesOf(context);
    if (rules.isPublic) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
    const reply = http.getResponse<FastifyReply>();
    // Most requests carry a key looked up moments ago: answered without a promise (bench/README.md).
    const principal = this.auth.admitNow(request, reply, rules.scope);
    if (principal) {
      request.principal = principal;
      return true;
    }
    return this.auth.admit(request, reply, rules.scope).then((admitted) => {
      request.principal = admitted;
      return true;
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
