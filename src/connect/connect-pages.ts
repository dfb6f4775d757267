import type { Provider } from '../connections/providers.js';
import type { PageKind } from './connect-errors.js';

/**
 * What the connect pages show, as data for their templates (views/connect/*.eta, which escape every
 * value). No page carries a user id, an internal id or any token but the link's own, which is in the
 * page's URL already: its provider buttons go to /connect/{token}/{provider}, and "back to the app" to
 * /connect/{token}/cancel, which redirects to the return_url (so that the return_url's query, which is
 * the consumer's, is not on the page either).
 */

/** A page: its status, its template, and the template's data. */
export type Page = { status: number; retryAfter?: number } & (
  | { template: 'choose'; data: ChooseData }
  | { template: 'message'; data: MessageData }
);

/** How a provider stands for the user, in the page's words. */
export type ProviderState = 'connected' | 'reconnect' | 'none';

export interface ProviderCard {
  name: string;
  state: ProviderState;
  stateText: string;
  /** The button's verb: Connect, Reconnect, or Connect again for a connected one. */
  action: string;
  href: string;
}

export interface ChooseData {
  title: string;
  appName: string;
  providers: ProviderCard[];
  cancelHref: string;
}

export interface MessageData {
  title: string;
  text: string;
}

/** A provider of the session, with the user's connection to it, if any. */
export interface OfferedProvider {
  provider: Provider;
  href: string;
  connection?: { status: 'active' | 'revoked' | 'expired'; lastSyncedAt: Date | null };
}

export const PROVIDER_NAMES: Record<Provider, string> = {
  garmin: 'Garmin',
  strava: 'Strava',
  polar: 'Polar',
  suunto: 'Suunto',
  whoop: 'WHOOP',
  oura: 'Oura',
  fitbit: 'Fitbit (Google)',
  withings: 'Withings',
  coros: 'COROS',
};

const MESSAGES: Record<PageKind, { status: number; title: string; text: string }> = {
  not_found: { status: 404, title: 'This link is not valid', text: 'Check that the whole link was copied, or go back to the app you came from and ask it for a new one.' },
  expired: { status: 410, title: 'This link has expired', text: 'Links to connect a wearable last a few minutes. Go back to the app you came from and ask it for a new one.' },
  used: { status: 410, title: 'This link has already been used', text: 'Go back to the app you came from: it knows how the connection went.' },
  exhausted: { status: 429, title: 'Too many attempts with this link', text: 'Go back to the app you came from and ask it for a new link.' },
  blocked: { status: 429, title: 'Too many links tried', text: 'Too many links that are not valid were opened from your network. Wait a minute, then open the link the app gave you again.' },
  invalid_callback: {
    status: 400,
    title: 'This sign-in cannot be completed',
    text: 'It was not started here, or it was already completed. Go back to the app you came from and start again.',
  },
  unavailable: {
    status: 503,
    title: 'This sign-in could not be completed',
    text: 'The service is unavailable for a moment. Go back to the app you came from and start again shortly.',
  },
  internal_error: {
    status: 500,
    title: 'This sign-in could not be completed',
    text: 'Something went wrong on our side. Go back to the app you came from and start again.',
  },
};

/** The page of a session's providers, each with the user's state and one button. */
export function choosePage(appName: string, offered: readonly OfferedProvider[], cancelHref: string, now = new Date()): Page {
  const providers = offered.map(({ provider, href, connection }): ProviderCard => {
    const name = PROVIDER_NAMES[provider];
    if (connection?.status === 'active') {
      return { name, state: 'connected', stateText: connectedText(connection.lastSyncedAt, now), action: 'Connect again', href };
    }
    if (connection) return { name, state: 'reconnect', stateText: 'Needs reconnecting', action: 'Reconnect', href };
    return { name, state: 'none', stateText: 'Not connected', action: 'Connect', href };
  });
  return { status: 200, template: 'choose', data: { title: `Connect your wearable to ${appName}`, appName, providers, cancelHref } };
}

/** Why a link or a callback cannot go on, and what the user can do. */
export function messagePage(kind: PageKind, retryAfter?: number): Page {
  const { status, title, text } = MESSAGES[kind];
  // A 503 says when to come back, as every 503 of the service does.
  return { status, retryAfter: retryAfter ?? (status === 503 ? 1 : undefined), template: 'message', data: { title, text } };
}

const RELATIVE = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['minute', 60],
  ['hour', 60],
  ['day', 24],
  ['week', 7],
  ['month', 4.35],
  ['year', 12],
];

/** "Connected", with when it last synced in words: "last synced 3 hours ago". */
export function connectedText(lastSyncedAt: Date | null, now: Date): string {
  if (!lastSyncedAt) return 'Connected · not synced yet';
  let value = Math.max(0, (now.getTime() - lastSyncedAt.getTime()) / 60_000);
  if (value < 1) return 'Connected · last synced just now';
  let unit: Intl.RelativeTimeFormatUnit = 'minute';
  for (let i = 0; i < STEPS.length - 1 && value >= STEPS[i + 1][1]; i += 1) {
    value /= STEPS[i + 1][1];
    unit = STEPS[i + 1][0];
  }
  return `Connected · last synced ${RELATIVE.format(-Math.floor(value), unit)}`;
}
