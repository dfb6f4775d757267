import { type ArgumentMetadata, BadRequestException, Param, type PipeTransform, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';

/** Any UUID Postgres would accept in its canonical form (every version, as the spec's examples include v1). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path parameter that must be a UUID; returns it in lower case. */
export function UuidParam(name: string): ParameterDecorator {
  const pipe: PipeTransform<string, string> = {
    transform(value) {
      if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
        throw new BadRequestException(`${name} must be a UUID`);
      }
      return value.toLowerCase();
    },
  };
  return Param(name, pipe);
}

export const BODY_NOT_OBJECT = 'body must be a JSON object';

/**
 * One message per invalid field: `<field> is required` when it is absent, otherwise the first of its
 * checks, in the order the DTO declares them, that failed (so `5` for a string field is "must be a
 * string", not also "must be shorter than …"). class-validator lists a field's failed checks in the
 * reverse of that order: decorators apply bottom-up.
 */
function messageOf(error: ValidationError): string {
  const constraints = error.constraints ?? {};
  if (constraints.whitelistValidation) return `${error.property} is not a known field`;
  if (error.value === undefined) return `${error.property} is required`;
  const messages = Object.values(constraints);
  return messages[messages.length - 1] ?? `${error.property} is not valid`;
}

/** One detail line naming every invalid field, once each. */
function invalid(errors: ValidationError[]): BadRequestException {
  return new BadRequestException(errors.map(messageOf).join('; ') || 'The request is not valid');
}

/**
 * ValidationPipe for request bodies, which first requires the body to be a JSON object: an array, a
 * string, a number or `null` gets one message rather than a complaint about every field. No body at
 * all (nothing sent, or an empty application/json body) is validated as `{}`.
 */
class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new BadRequestException(BODY_NOT_OBJECT);
    }
    return super.transform(value ?? {}, metadata);
  }
}

/** Request bodies: unknown fields are rejected, so a misspelt optional field is not silently dropped. */
export const validBody: PipeTransform = new BodyValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  exceptionFactory: invalid,
});

/** Query strings: unknown parameters are ignored (cache busters and the like), known ones are validated. */
export const validQuery = new ValidationPipe({
  whitelist: true,
  transform: true,
  exceptionFactory: invalid,
});
