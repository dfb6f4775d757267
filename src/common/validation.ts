import { BadRequestException, Param, type PipeTransform, ValidationPipe } from '@nestjs/common';

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

/** Request bodies: unknown fields are rejected, so a misspelt optional field is not silently dropped. */
export const validBody = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
});

/** Query strings: unknown parameters are ignored (cache busters and the like), known ones are validated. */
export const validQuery = new ValidationPipe({
  whitelist: true,
  transform: true,
  validationError: { target: false, value: false },
});
