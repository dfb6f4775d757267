import { ClassSerializerInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import * as classTransformer from 'class-transformer';
import type { preSerializationHookHandler } from 'fastify';

/** True for JSON-like data made only of primitives, arrays and plain objects (no class instance anywhere). */
function onlyPlainData(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > 8) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!onlyPlainData(value[i], depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) if (!onlyPlainData((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

/**
 * The safety net behind @Exclude(): ClassSerializerInterceptor's serialize() applied to every response
 * body Fastify is about to turn into JSON, on every route, so that a class instance (an entity, say)
 * that reached a response loses its @Exclude()d fields (the tokens).
 *
 * It runs as Fastify's preSerialization hook rather than as a global Nest interceptor: the interceptor
 * chain wraps every request in rxjs observables whatever the interceptor does, a measured cost on the
 * spec's endpoint (figures in bench/README.md). Responses built by the toXResponse()
 * mappers are plain data, with no @Exclude() to apply, so they skip class-transformer's reflective
 * copy; anything else goes through it.
 */
export function entitySerializerHook(): preSerializationHookHandler<unknown> {
  // The package is handed over: left to itself, the interceptor loads it in the background and only
  // waits for it in intercept(), which is not called here.
  const serializer = new ClassSerializerInterceptor(new Reflector(), { transformerPackage: classTransformer });
  return function serializeEntities(_request, _reply, payload, done) {
    done(null, onlyPlainData(payload) ? payload : serializer.serialize(payload as object, {}));
  };
}
