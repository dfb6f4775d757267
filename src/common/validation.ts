import { BadRequestException, Param, type PipeTransform, ValidationPipe } from '@nestjs/common';
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

/** One detail line naming every invalid field. */
function invalid(errors: ValidationError[]): BadRequestException {
  const messages = errors.flatMap((error) =>
    Object.entries(error.constraints ?? {}).map(([constraint, message]) =>
      // Nest's wording for a body that is an array or a scalar.
      constraint === 'isObject' ? 'The request body must be a JSON object' : message,
    ),
  );
  return new BadRequestException(messages.join('; ') || 'The request is not valid');
}

/** Request bodies: unknown fields are rejected, so a misspelt optional field is not silently dropped. */
export const validBody = new ValidationPipe({
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
