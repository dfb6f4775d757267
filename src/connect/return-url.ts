/** The hosts a return_url may use while CONNECT_RETURN_URLS is unset (over http, on any port): the demo's. */
const LOCAL_HOSTS = ['localhost', '127.0.0.1'];

/**
 * The return_url as the service will redirect to it (parsed and normalised, so that what was checked is
 * what is used), or undefined when it is not allowed. `prefixes` are CONNECT_RETURN_URLS' entries: a
 * return_url matches one with the same scheme, host and port and a path at or under the entry's, by
 * whole segments (`/wearables` allows `/wearables` and `/wearables/done`, not `/wearables-evil`). Null
 * prefixes (the variable unset) allow only http://localhost and http://127.0.0.1, on any port.
 * Credentials in the URL are never allowed, nor a path that could step out of the one it was checked
 * under once the consumer's server or proxy decodes it (see steppingPath).
 */
export function allowedReturnUrl(raw: string, prefixes: readonly string[] | null): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  if (steppingPath(raw, url)) return undefined;
  if (prefixes === null) return url.protocol === 'http:' && LOCAL_HOSTS.includes(url.hostname) ? url : undefined;
  return prefixes.some((prefix) => matches(url, new URL(prefix))) ? url : undefined;
}

function matches(url: URL, prefix: URL): boolean {
  if (url.protocol !== prefix.protocol || url.host !== prefix.host) return false;
  const base = prefix.pathname;
  if (base.endsWith('/')) return url.pathname.startsWith(base);
  return url.pathname === base || url.pathname.startsWith(`${base}/`);
}

/** An escaped slash or backslash (`%2F`, `%5C`, any case), or an escaped percent sign, which could make one once decoded again. */
const ESCAPED_SEPARATOR = /%(2f|5c|25)/i;

/**
 * Whether the return_url's path holds what a server may read as another path than the one checked:
 * an escaped separator (`/wearables/..%2Fadmin` is one segment here, two dot-dot-ish ones to a server
 * that decodes it), or a dot segment (`.`, `..`, however escaped) in the path as given, which the
 * parser would silently resolve. The path as given is the raw text between the authority and the
 * query; `\` counts as a separator, as it does for http(s) URLs.
 */
function steppingPath(raw: string, url: URL): boolean {
  if (ESCAPED_SEPARATOR.test(url.pathname)) return true;
  // As the URL parser reads it: tabs and newlines anywhere dropped, leading and trailing controls and spaces trimmed.
  const parsed = raw.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const given = /^[a-z][a-z0-9+.-]*:[\\/]*[^\\/?#]*([^?#]*)/i.exec(parsed)?.[1] ?? '';
  return given.split(/[\\/]/).some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}
