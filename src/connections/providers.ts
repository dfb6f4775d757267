export const PROVIDERS = ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings', 'coros'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const CONNECTION_STATUSES = ['active', 'revoked', 'expired'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

export function isProvider(value: unknown): value is Provider {
  return (PROVIDERS as readonly unknown[]).includes(value);
}
