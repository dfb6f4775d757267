import { ValidateBy, type ValidationOptions } from 'class-validator';

// RFC 3339: a calendar date, a time to the minute at least, and `Z` or an offset with a colon.
const RFC_3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Whether a string is an RFC 3339 time, in years 1 to 9999 once in UTC, that names its time zone. */
export function isIsoTime(value: unknown): boolean {
  if (typeof value !== 'string' || !RFC_3339.test(value)) return false;
  const time = new Date(value);
  const year = time.getUTCFullYear();
  return !Number.isNaN(time.getTime()) && year >= 1 && year <= 9999;
}

/**
 * An ISO 8601 time in RFC 3339 form with its time zone (`Z` or an offset), so it cannot be read two
 * ways, and within years 1 to 9999, so it comes back in the same form.
 */
export function IsIsoTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isIsoTime',
      validator: {
        validate: isIsoTime,
        defaultMessage: (args) =>
          `${args?.property ?? 'the value'} must be an ISO 8601 time with a time zone, between years 1 and 9999, e.g. 2024-03-15T10:30:00Z`,
      },
    },
    options,
  );
}
