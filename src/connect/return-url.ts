/** The hosts a return_url may use while CONNECT_RETURN_URLS is unset (over http, on any port): the demo's. */
const LOCAL_HOSTS = ['localhost', '127.0.0.1'];

/**
 * The return_url as the service will redirect to it (parsed and normalised, so that what was checked is
 * what is used), or undefined when it is not allowed. `prefixes` are CONNECT_RETURN_URLS' entries: a
 * return_url matches one with the same scheme, host and port and a path at or under the entry's, by
 * whole segments (`/wearables` allows `/wearables` and `/wearables/done`, not `/wearables-evil`). Null
 * prefixes (the variable unset) allow only http://localhost and http://127.0.0.1, on any port.
 * Credentials in the URL are never allowed.
 */
export function allowedReturnUrl(raw: string, prefixes: readonly string[] | null): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  if (prefixes === null) return url.protocol === 'http:' && LOCAL_HOSTS.includes(url.hostname) ? url : undefined;
  return prefixes.some((prefix) => matches(url, new URL(prefix))) ? url : undefined;
}

function matches(url: URL, prefix: URL): boolean {
  if (url.protocol !== prefix.protocol || url.host !== prefix.host) return false;
  const base = prefix.pathname;
  if (base.endsWith('/')) return url.pathname.startsWith(base);
  return url.pathname === base || url.pathname.startsWith(`${base}/`);
}
