import { applyDecorators } from '@nestjs/common';
import { IsISO8601, Matches } from 'class-validator';

/** An ISO 8601 time that names its time zone (`Z` or an offset), so it cannot be read two ways. */
export function IsIsoTime(): PropertyDecorator {
  return applyDecorators(
    IsISO8601({ strict: true }, { message: ({ property }) => `${property} must be an ISO 8601 time, e.g. 2024-03-15T10:30:00Z` }),
    Matches(/T.*(Z|[+-]\d{2}(:?\d{2})?)$/i, {
      message: ({ property }) => `${property} must include a time zone, e.g. 2024-03-15T10:30:00Z`,
    }),
  );
}
