import { ClassSerializerInterceptor, type PlainLiteralObject } from '@nestjs/common';

/** True for JSON-like data made only of primitives, arrays and plain objects (no class instance anywhere). */
function onlyPlainData(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > 8) return false;
  if (Array.isArray(value)) return value.every((item) => onlyPlainData(item, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) if (!onlyPlainData((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

/**
 * ClassSerializerInterceptor, the safety net that applies @Exclude() to any class instance (an
 * entity, say) a handler returns. Responses built by the toXResponse() mappers are plain data, which
 * has no @Exclude() to apply, so it skips the reflective copy that would otherwise run per request.
 */
export class SerializerInterceptor extends ClassSerializerInterceptor {
  override serialize(
    response: PlainLiteralObject | PlainLiteralObject[],
    options: object,
  ): PlainLiteralObject | PlainLiteralObject[] {
    return onlyPlainData(response) ? response : super.serialize(response, options);
  }
}
