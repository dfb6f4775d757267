import type { Provider } from '../connections/providers.js';
import type { PageKind } from './connect-errors.js';

/**
 * The connect flow's few HTML pages, plain on purpose: the hosted connect page (its own issue) replaces
 * this file. Every dynamic value goes through escapeHtml(). The pages carry the service's security
 * headers (HttpSafetyNets: a CSP of default-src 'none', so no script or style runs; no-store;
 * no-referrer), and no secret: the only URLs in them are the link's own.
 */

export interface Page {
  status: number;
  html: string;
}

const PROVIDER_NAMES: Record<Provider, string> = {
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
  not_found: { status: 404, title: 'This link is not valid', text: 'Go back to the app you came from and ask it for a new link.' },
  expired: { status: 410, title: 'This link has expired', text: 'Go back to the app you came from and ask it for a new link.' },
  used: { status: 410, title: 'This link has already been used', text: 'Go back to the app you came from; it knows how the connection went.' },
  exhausted: { status: 429, title: 'Too many attempts with this link', text: 'Go back to the app you came from and ask it for a new link.' },
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

/** The providers a session offers, each a link to its flow. */
export function choosePage(links: readonly { provider: Provider; href: string }[]): Page {
  const items = links
    .map(({ provider, href }) => `<li><a href="${escapeHtml(href)}">${escapeHtml(PROVIDER_NAMES[provider] ?? provider)}</a></li>`)
    .join('\n');
  return { status: 200, html: document('Connect a wearable', `<h1>Connect a wearable</h1>\n<p>Choose your provider:</p>\n<ul>\n${items}\n</ul>`) };
}

/** Why a link or a callback cannot go on. */
export function messagePage(kind: PageKind): Page {
  const { status, title, text } = MESSAGES[kind];
  return { status, html: document(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(text)}</p>`) };
}

function document(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
</head>
<body>
${body}
</body>
</html>
`;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or an attribute value as HTML: the five characters that could end either are escaped. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => ESCAPES[character]);
}
