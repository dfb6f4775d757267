/**
 * ISO 8601 in UTC, ending in `Z`, as in the spec's example ("2024-03-15T10:30:00Z").
 * Milliseconds are written only when they are not zero.
 */
export function isoTime(date: Date | null | undefined): string | null {
  if (!date) return null;
  const text = date.toISOString();
  return text.endsWith('.000Z') ? `${text.slice(0, -5)}Z` : text;
}
