import { ConfigError, type Env, flag } from './env-values.js';

/** The connect flow's settings: where browsers reach the service, and what a connect session may do. */
export interface ConnectConfig {
  /**
   * `PUBLIC_URL` without a trailing slash: where users' browsers reach the service (its origin, and a
   * path when a proxy serves it under one). Connect links and the providers' redirect URIs start with it.
   */
  publicUrl: string;
  /** `CONNECT_SESSION_TTL_SECONDS`: how long a connect session's link may be used. */
  sessionTtlSeconds: number;
  /**
   * `CONNECT_RETURN_URLS`: the URL prefixes a session's return_url must start with (same scheme, host
   * and port; a path under the prefix's). Null when unset: then only http://localhost and
   * http://127.0.0.1, on any port, are allowed.
   */
  returnUrls: string[] | null;
  /** `CONNECT_ALLOW_SHARED_ACCOUNTS`: a provider account already active for another user may be connected too. */
  allowSharedAccounts: boolean;
  /** `CONNECT_APP_NAME`: the app the connect page names ("Connect your wearable to …"). Default "your app". */
  appName: string;
  /**
   * `CONNECT_FRAME_ANCESTORS`: the origins that may show the connect pages in a frame (the page's CSP
   * frame-ancestors). Empty when unset: no one may frame them.
   */
  frameAncestors: string[];
}

const DEFAULT_TTL_SECONDS = 900;
const MAX_TTL_SECONDS = 86_400;

/** Reads and validates the connect flow's variables; throws a ConfigError naming the first bad one. */
export function loadConnectConfig(env: Env): ConnectConfig {
  return {
    publicUrl: publicUrl(env),
    sessionTtlSeconds: ttl(env),
    returnUrls: returnUrls(env),
    allowSharedAccounts: flag(env, 'CONNECT_ALLOW_SHARED_ACCOUNTS'),
    appName: appName(env),
    frameAncestors: frameAncestors(env),
  };
}

const MAX_APP_NAME = 60;

/** CONNECT_APP_NAME: printable text (it is escaped on the page, but a control character has no business there). */
function appName(env: Env): string {
  const raw = env.CONNECT_APP_NAME?.trim();
  if (!raw) return 'your app';
  if (raw.length > MAX_APP_NAME || /[\p{Cc}\p{Cf}]/u.test(raw)) {
    throw new ConfigError(`CONNECT_APP_NAME must be at most ${MAX_APP_NAME} printable characters`);
  }
  return raw;
}

/**
 * CONNECT_FRAME_ANCESTORS: origins separated by commas or spaces, each https://host[:port] (or http://
 * on localhost), written into the CSP as they are; nothing else may reach the header (no quotes,
 * wildcards or `;`), so a value cannot widen the policy beyond the origins it names.
 */
function frameAncestors(env: Env): string[] {
  const entries = (env.CONNECT_FRAME_ANCESTORS ?? '').split(/[\s,]+/).filter(Boolean);
  return entries.map((entry) => {
    const url = httpUrl('CONNECT_FRAME_ANCESTORS', entry, 'such as https://app.example.com');
    const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
    if (url.protocol !== 'https:' && !local) throw new ConfigError('CONNECT_FRAME_ANCESTORS must name https:// origins (http:// only on localhost)');
    if (url.pathname !== '/' || !/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname)) throw new ConfigError('CONNECT_FRAME_ANCESTORS must name origins: a scheme, a host and a port, no path');
    return url.origin;
  });
}

/**
 * PUBLIC_URL, or http://localhost:{PORT}. http:// off a loopback address is accepted (a test network, a
 * proxy on a private network) but warned about at start-up (see insecureSettings): over plain http the
 * connect links, the flow cookie and the providers' codes cross the network in the clear.
 */
function publicUrl(env: Env): string {
  const raw = env.PUBLIC_URL?.trim();
  if (!raw) return `http://localhost:${env.PORT || 3000}`;
  const url = httpUrl('PUBLIC_URL', raw, 'such as https://wearables.example.com');
  return url.href.replace(/\/+$/, '');
}

function ttl(env: Env): number {
  const raw = env.CONNECT_SESSION_TTL_SECONDS?.trim();
  if (!raw) return DEFAULT_TTL_SECONDS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_TTL_SECONDS) {
    throw new ConfigError(`CONNECT_SESSION_TTL_SECONDS must be an integer from 1 to ${MAX_TTL_SECONDS}, got "${raw}"`);
  }
  return value;
}

function returnUrls(env: Env): string[] | null {
  const entries = (env.CONNECT_RETURN_URLS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return null;
  return entries.map((entry) => httpUrl('CONNECT_RETURN_URLS', entry, 'such as https://app.example.com/wearables').href);
}

/** An http(s) URL with no credentials, query or fragment; the ConfigError names the variable, never the value. */
function httpUrl(name: string, raw: string, example: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL ${example}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${name} must start with https:// or http://`);
  if (url.username || url.password) throw new ConfigError(`${name} must not contain credentials`);
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) throw new ConfigError(`${name} must not have a query or fragment`);
  return url;
}
