/**
 * A browser, as far as the connect flow needs one: GETs over real HTTP, redirects followed one at a
 * time (fetch with redirect: 'manual'), and a cookie jar that keeps cookies per host and path and sends
 * them as a browser would (RFC 6265: host-only, path-match, Max-Age, Secure). Every response is
 * recorded, so that a test can check each for secrets.
 */

export interface Cookie {
  name: string;
  value: string;
  host: string;
  path: string;
  /** Epoch ms; undefined: a session cookie. */
  expires?: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
}

export interface Visit {
  url: string;
  status: number;
  /** The Location of a redirect. */
  location?: string;
  setCookies: string[];
  headers: Headers;
  body: string;
  /** The Cookie header the browser sent. */
  sentCookies?: string;
}

export interface FollowOptions {
  /** Whether the browser may load this URL (it stops at the first redirect to one it may not). Default: every URL. */
  reachable?: (url: URL) => boolean;
  /** At most this many requests. */
  max?: number;
}

export class Browser {
  readonly cookies: Cookie[] = [];
  readonly visits: Visit[] = [];

  /** One GET, with the jar's cookies for the URL (or `cookieHeader`, verbatim, when given); Set-Cookie goes to the jar. */
  async get(url: string, cookieHeader?: string): Promise<Visit> {
    const target = new URL(url);
    const sentCookies = cookieHeader ?? this.cookieHeader(target);
    const response = await fetch(target, {
      redirect: 'manual',
      headers: sentCookies ? { cookie: sentCookies } : {},
      signal: AbortSignal.timeout(20_000),
    });
    const setCookies = response.headers.getSetCookie();
    for (const header of setCookies) this.store(header, target);
    const location = response.headers.get('location') ?? undefined;
    const visit: Visit = {
      url: target.href,
      status: response.status,
      location: location === undefined ? undefined : new URL(location, target).href,
      setCookies,
      headers: response.headers,
      body: await response.text(),
      sentCookies: sentCookies || undefined,
    };
    this.visits.push(visit);
    return visit;
  }

  /** GETs `url` and follows its redirects; every visit, the last one first met that is not followed. */
  async follow(url: string, options: FollowOptions = {}): Promise<Visit[]> {
    const reachable = options.reachable ?? (() => true);
    const visits: Visit[] = [];
    let next: string | undefined = url;
    for (let i = 0; next !== undefined && i < (options.max ?? 10); i++) {
      const visit = await this.get(next);
      visits.push(visit);
      next = visit.status >= 300 && visit.status < 400 && visit.location && reachable(new URL(visit.location)) ? visit.location : undefined;
    }
    return visits;
  }

  /** The Cookie header this browser sends to `url`. */
  cookieHeader(url: URL): string {
    const now = Date.now();
    this.dropExpired(now);
    return this.cookies
      .filter((cookie) => cookie.host === url.host && pathMatches(url.pathname, cookie.path) && (!cookie.secure || url.protocol === 'https:'))
      // Longer paths first, as RFC 6265 (5.4) orders them.
      .sort((a, b) => b.path.length - a.path.length)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  /** The jar's cookie of this name, if it holds one. */
  cookie(name: string): Cookie | undefined {
    this.dropExpired(Date.now());
    return this.cookies.find((cookie) => cookie.name === name);
  }

  private store(header: string, from: URL): void {
    const [pair, ...attributes] = header.split(';').map((part) => part.trim());
    const equals = pair.indexOf('=');
    if (equals <= 0) return;
    const cookie: Cookie = {
      name: pair.slice(0, equals),
      value: pair.slice(equals + 1),
      host: from.host,
      path: defaultPath(from.pathname),
      secure: false,
      httpOnly: false,
    };
    for (const attribute of attributes) {
      const [rawName, ...rest] = attribute.split('=');
      const name = rawName.toLowerCase();
      const value = rest.join('=');
      if (name === 'path' && value.startsWith('/')) cookie.path = value;
      else if (name === 'max-age') cookie.expires = Date.now() + Number(value) * 1000;
      else if (name === 'expires' && cookie.expires === undefined) cookie.expires = Date.parse(value);
      else if (name === 'secure') cookie.secure = true;
      else if (name === 'httponly') cookie.httpOnly = true;
      else if (name === 'samesite') cookie.sameSite = value;
    }
    // A Secure cookie is never set over plain http.
    if (cookie.secure && from.protocol !== 'https:') return;
    const index = this.cookies.findIndex((c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path);
    if (index !== -1) this.cookies.splice(index, 1);
    if (cookie.expires === undefined || cookie.expires > Date.now()) this.cookies.push(cookie);
  }

  private dropExpired(now: number): void {
    for (let i = this.cookies.length - 1; i >= 0; i--) {
      const expires = this.cookies[i].expires;
      if (expires !== undefined && expires <= now) this.cookies.splice(i, 1);
    }
  }
}

/** RFC 6265 5.1.4. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** RFC 6265 5.1.4: the directory of the request's path. */
function defaultPath(requestPath: string): string {
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}
