/**
 * ISO 8601 in UTC, ending in `Z`, as in the spec's example ("2024-03-15T10:30:00Z").
 * Milliseconds are written only when they are not zero.
 */
export function isoTime(date: Date | null | undefined): string | null {
  if (!date) return null;
  const text = date.toISOString();
  return text.endsWith('.000Z') ? `${text.slice(0, -5)}Z` : text;
}

/**
 * isoTime() for a UTC time PostgreSQL wrote as text (`(timestamptz AT TIME ZONE 'UTC')::text`, as the
 * connections statements read their times): "2024-03-15 10:30:00.123456" becomes
 * "2024-03-15T10:30:00.123Z". The same string isoTime() makes of the same instant, without a Date
 * on the way (the fraction is cut to milliseconds, as a Date holds them).
 */
export function isoTimeFromUtcText(text: string | null): string | null {
  if (text === null) return null;
  const seconds = `${text.slice(0, 10)}T${text.slice(11, 19)}`;
  // PostgreSQL writes no fraction for whole seconds, and drops trailing zeros from one it writes.
  const milliseconds = text.length > 20 ? `${text.slice(20, 23)}00`.slice(0, 3) : '000';
  return milliseconds === '000' ? `${seconds}Z` : `${seconds}.${milliseconds}Z`;
}
