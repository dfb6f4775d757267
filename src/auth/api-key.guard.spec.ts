import { Controller, ForbiddenException, Get, HttpException, HttpStatus, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { describe, expect, it, vi } from 'vitest';
import { ApiKeyGuard } from './api-key.guard.js';
import type { Principal } from './api-keys.service.js';
import type { AuthReply, AuthRequest, AuthService } from './auth.service.js';
import { Public } from './public.decorator.js';
import { RequireScope } from './require-scope.decorator.js';
import type { Scope } from './scopes.js';

@Controller('open')
@Public()
class OpenController {
  @Get()
  anything() {}
}

@Controller('mixed')
class MixedController {
  @Get('health')
  @Public()
  health() {}

  @Get('read')
  @RequireScope('read')
  read() {}

  @Get('write')
  @RequireScope('write')
  write() {}

  /** Names no scope: needs admin. */
  @Get('unmarked')
  unmarked() {}
}

@Controller('reading')
@RequireScope('read')
class ReadingController {
  /** The class's scope. */
  @Get()
  list() {}

  /** Its own, which overrides the class's. */
  @Get('admin')
  @RequireScope('admin')
  manage() {}
}

type Handler = (...args: unknown[]) => unknown;

/**
 * An AuthService that records what it is asked and answers as told: through admit(), or, when
 * `now` says so, at once through admitNow() (undefined: admitNow() cannot tell, admit() is asked).
 */
function fakeAuth(answer: (scope: Scope) => Principal | Error, now: (scope: Scope) => Principal | Error | undefined = () => undefined) {
  const calls: { request: AuthRequest; reply: AuthReply; scope: Scope }[] = [];
  const auth = {
    admitNow(_request: AuthRequest, _reply: AuthReply, scope: Scope): Principal | undefined {
      const outcome = now(scope);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
    async admit(request: AuthRequest, reply: AuthReply, scope: Scope): Promise<Principal> {
      calls.push({ request, reply, scope });
      const outcome = answer(scope);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  };
  return { auth: auth as unknown as AuthService, calls };
}

function context(controller: abstract new () => unknown, handler: Handler, request: object = { headers: {}, ip: '203.0.113.1' }) {
  const reply = { header: vi.fn() };
  return { ctx: new ExecutionContextHost([request, reply], controller as never, handler), request, reply };
}

const PRINCIPAL: Principal = { keyId: '00000000-0000-4000-8000-000000000001', scopes: ['read'] };

describe('ApiKeyGuard', () => {
  it('lets a @Public() route through without asking the service, whether the handler or its class is marked', async () => {
    const { auth, calls } = fakeAuth(() => new UnauthorizedException('Invalid or missing API key'));
    const guard = new ApiKeyGuard(new Reflector(), auth);
    expect(await guard.canActivate(context(OpenController, OpenController.prototype.anything as Handler).ctx)).toBe(true);
    expect(await guard.canActivate(context(MixedController, MixedController.prototype.health as Handler).ctx)).toBe(true);
    expect(calls).toEqual([]);
  });

  it("asks the service for the route's scope: the handler's, else its class's, else admin", async () => {
    const { auth, calls } = fakeAuth(() => PRINCIPAL);
    const guard = new ApiKeyGuard(new Reflector(), auth);
    const routes: [abstract new () => unknown, Handler, Scope][] = [
      [MixedController, MixedController.prototype.read as Handler, 'read'],
      [MixedController, MixedController.prototype.write as Handler, 'write'],
      [MixedController, MixedController.prototype.unmarked as Handler, 'admin'],
      [ReadingController, ReadingController.prototype.list as Handler, 'read'],
      [ReadingController, ReadingController.prototype.manage as Handler, 'admin'],
    ];
    for (const [controller, handler, scope] of routes) {
      const { ctx, request, reply } = context(controller, handler);
      expect(await guard.canActivate(ctx)).toBe(true);
      expect(calls.at(-1)).toEqual({ request, reply, scope });
    }
    expect(calls).toHaveLength(routes.length);
  });

  it('puts the admitted principal on the request', async () => {
    const { auth } = fakeAuth(() => PRINCIPAL);
    const guard = new ApiKeyGuard(new Reflector(), auth);
    const { ctx, request } = context(MixedController, MixedController.prototype.read as Handler);
    await guard.canActivate(ctx);
    expect(request).toHaveProperty('principal', PRINCIPAL);
  });

  const refusals: [string, Error, number][] = [
    ['401', new UnauthorizedException('Invalid or missing API key'), HttpStatus.UNAUTHORIZED],
    ['403', new ForbiddenException('This API key lacks the "write" scope'), HttpStatus.FORBIDDEN],
    ['429', new HttpException('Too many failed authentication attempts from this address; retry after 60 s', 429), HttpStatus.TOO_MANY_REQUESTS],
  ];

  for (const [name, error, status] of refusals) {
    it(`passes the service's ${name} on as it is, and admits nothing`, async () => {
      const { auth } = fakeAuth(() => error);
      const guard = new ApiKeyGuard(new Reflector(), auth);
      const { ctx, request } = context(MixedController, MixedController.prototype.write as Handler);
      const refused = await Promise.resolve()
        .then(() => guard.canActivate(ctx))
        .catch((thrown: unknown) => thrown);
      expect(refused).toBe(error);
      expect((refused as HttpException).getStatus()).toBe(status);
      expect(request).not.toHaveProperty('principal');
    });
  }

  it('admits a request the service can answer at once without a promise, and without asking admit()', () => {
    const { auth, calls } = fakeAuth(() => new UnauthorizedException('not asked'), () => PRINCIPAL);
    const guard = new ApiKeyGuard(new Reflector(), auth);
    const { ctx, request } = context(MixedController, MixedController.prototype.read as Handler);
    expect(guard.canActivate(ctx)).toBe(true);
    expect(request).toHaveProperty('principal', PRINCIPAL);
    expect(calls).toEqual([]);
  });

  it('passes on at once a refusal the service makes at once (403, 429), and admits nothing', () => {
    const forbidden = new ForbiddenException('This API key lacks the "write" scope');
    const { auth, calls } = fakeAuth(() => PRINCIPAL, () => forbidden);
    const guard = new ApiKeyGuard(new Reflector(), auth);
    const { ctx, request } = context(MixedController, MixedController.prototype.write as Handler);
    expect(() => guard.canActivate(ctx)).toThrow(forbidden);
    expect(request).not.toHaveProperty('principal');
    expect(calls).toEqual([]);
  });

  it("reads a route's metadata once, not on every request", async () => {
    const { auth } = fakeAuth(() => PRINCIPAL);
    const reflector = new Reflector();
    const read = vi.spyOn(reflector, 'getAllAndOverride');
    const guard = new ApiKeyGuard(reflector, auth);
    for (let i = 0; i < 5; i++) {
      await guard.canActivate(context(MixedController, MixedController.prototype.read as Handler).ctx);
      await guard.canActivate(context(OpenController, OpenController.prototype.anything as Handler).ctx);
    }
    // Two pieces (public, scope) for each of the two routes.
    expect(read).toHaveBeenCalledTimes(4);
  });
});
