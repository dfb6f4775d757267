import { ValidateBy, type ValidationOptions } from 'class-validator';

// RFC 3339: a calendar date, a time to the minute at least, and `Z` or an offset with a colon.
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2}))$/i;

const MINUTE_MS = 60_000;

/**
 * Whether a string is an RFC 3339 time, in years 1 to 9999 once in UTC, that names its time zone.
 * Every field must be in range as written: `Date` would move an impossible date or time to a real one
 * (2024-02-30 to March 1st, 24:00 to the next day), and such a value is refused instead.
 */
export function isIsoTime(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const match = RFC_3339.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const [zone, sign, offsetHours, offsetMinutes] = match.slice(7);
  const utc = zone.toUpperCase() === 'Z';
  if (!utc && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) return false;
  // The fields as written, read as UTC: they must come back unchanged.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  if (
    local.getUTCFullYear() !== year ||
    local.getUTCMonth() !== month - 1 ||
    local.getUTCDate() !== day ||
    local.getUTCHours() !== hour ||
    local.getUTCMinutes() !== minute ||
    local.getUTCSeconds() !== second
  ) {
    return false;
  }
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) return false;
  // And the instant Date reads must be those fields less the offset.
  const offset = utc ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  if (Math.floor(time.getTime() / 1000) * 1000 !== local.getTime() - offset * MINUTE_MS) return false;
  const utcYear = time.getUTCFullYear();
  return utcYear >= 1 && utcYear <= 9999;
}

/**
 * An ISO 8601 time in RFC 3339 form with its time zone (`Z` or an offset), so it cannot be read two
 * ways, on a date and at a time that exist (never moved to one that does), and within years 1 to
 * 9999, so it comes back in the same form.
 */
export function IsIsoTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isIsoTime',
      validator: {
        validate: isIsoTime,
        defaultMessage: (args) =>
          `${args?.property ?? 'the value'} must be an ISO 8601 time with a time zone, on a real date, between years 1 and 9999, e.g. 2024-03-15T10:30:00Z`,
      },
    },
    options,
  );
}
