import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * The headers of every API response: helmet's with a policy for JSON rather than for pages (OWASP's
 * REST Security Cheat Sheet): nothing on it may be loaded, framed, sniffed, cached or sent as a
 * referrer. Headers that only mean something to an HTML page (X-DNS-Prefetch-Control,
 * X-Download-Options, X-Permitted-Cross-Domain-Policies, Origin-Agent-Cluster, X-XSS-Protection,
 * COOP) are left out: every response carries these bytes, and every client parses them.
 */
const API_OPTIONS = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: { policy: 'same-origin' },
  dnsPrefetchControl: false,
  frameguard: { action: 'deny' },
  ieNoOpen: false,
  originAgentCluster: false,
  permittedCrossDomainPolicies: false,
  referrerPolicy: { policy: 'no-referrer' },
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  xContentTypeOptions: true,
  xssFilter: false,
} as const;

/** helmet's headers for the API: see API_OPTIONS. Responses hold one user's data, so nothing may cache them. */
export function securityHeaders(): Readonly<Record<string, string>> {
  return Object.freeze({ ...helmetHeaders(API_OPTIONS), 'cache-control': 'no-store' });
}

/** helmet's defaults, for the HTML pages of Swagger UI under /docs (its CSP lets the page run its own scripts). */
export function pageSecurityHeaders(): Readonly<Record<string, string>> {
  return Object.freeze(helmetHeaders());
}

/**
 * The headers helmet sets with these options, worked out once: they are the same on every response,
 * so they are set as one precomputed block instead of running helmet's middlewares on each request.
 */
function helmetHeaders(options?: Parameters<typeof helmet>[0]): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}
