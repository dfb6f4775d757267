import type { Provider } from '../connections/providers.js';
import { ProviderError, retryAfterMs } from './provider-error.js';

/** A provider's answer as an adapter may rewrite it before oauth4webapi reads it: its status and parsed JSON body. */
export interface ProviderAnswer {
  status: number;
  body: unknown;
}

/** An answer larger than this is not a token or a profile: it is refused rather than buffered. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * Every request to one provider goes through here, the library's (as its `customFetch`) and the
 * adapters' own: the provider's URL with P_BASE_URL's scheme, host and port; PROVIDER_TIMEOUT_MS for
 * the whole exchange, body included; and no answer, a network error, HTTP 5xx or 429 as
 * `provider_unavailable`. The answer is read in full here, so a provider that stalls mid-body times out
 * here too, and an adapter can rewrite it (Withings' wrapped answer, Coros' missing token_type).
 * Error messages name the method and path, never a query (Oura's revocation carries the token there).
 */
export class ProviderHttp {
  private readonly base?: URL;

  constructor(
    readonly provider: Provider,
    baseUrl: string | undefined,
    readonly timeoutMs: number,
  ) {
    this.base = baseUrl ? new URL(baseUrl) : undefined;
  }

  /** The provider's URL as it is reached: under P_BASE_URL when it is set, with the same path and query. */
  url(raw: string | URL): URL {
    const url = new URL(raw);
    if (this.base) {
      url.protocol = this.base.protocol;
      url.host = this.base.host;
    }
    return url;
  }

  /**
   * Whether this provider is reached over plain http: only through an http:// P_BASE_URL the operator
   * set (tests, local sandboxes); start-up warns about one off a loopback address.
   */
  get insecure(): boolean {
    return this.base?.protocol === 'http:';
  }

  /** A fresh timeout signal, one per request. */
  signal(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }

  /**
   * Sends the request and reads the whole answer. `rewrite` sees the answer's status and JSON body (or
   * undefined when it is not JSON) and returns the ones the caller gets.
   */
  async request(url: string | URL, init: RequestInit = {}, rewrite?: (answer: ProviderAnswer) => ProviderAnswer): Promise<Response> {
    const target = this.url(url);
    const what = `${init.method ?? 'GET'} ${target.pathname}`;
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await fetch(target, { ...init, redirect: 'manual', signal: init.signal ?? this.signal() });
      bytes = await readAll(response, this.provider, what);
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError('provider_unavailable', this.provider, `${this.provider} did not answer ${what}: ${transportProblem(error, this.timeoutMs)}`);
    }
    let status = response.status;
    const headers = new Headers(response.headers);
    // The body is decoded and complete: its original length and encoding no longer describe it.
    headers.delete('content-length');
    headers.delete('content-encoding');
    if (rewrite) {
      const answer = rewrite({ status, body: parseJson(bytes) });
      status = answer.status;
      bytes = new TextEncoder().encode(JSON.stringify(answer.body ?? {}));
      headers.set('content-type', 'application/json');
    }
    if (status >= 500 || status === 429) {
      const wait = retryAfterMs(response.headers.get('retry-after'));
      throw new ProviderError('provider_unavailable', this.provider, `${this.provider} answered HTTP ${status} to ${what}`, undefined, wait);
    }
    return new Response(NULL_BODY_STATUSES.has(status) ? null : (bytes as Uint8Array<ArrayBuffer>), { status, headers });
  }

  /** A `customFetch` for oauth4webapi: its requests, through request(), with an adapter's rewrite of the answer. */
  customFetch(rewrite?: (answer: ProviderAnswer) => ProviderAnswer) {
    return (url: string, options: { method: string; headers: Record<string, string>; body: unknown; signal?: AbortSignal }): Promise<Response> =>
      this.request(url, { method: options.method, headers: options.headers, body: options.body as RequestInit['body'], signal: options.signal }, rewrite);
  }

  /** GETs JSON with the access token (an exchange's extra); an answer other than 2xx JSON is `exchange_failed`. */
  async getJson(url: string, accessToken: string, headers: Record<string, string> = {}): Promise<unknown> {
    const response = await this.request(url, { headers: { ...headers, authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
    const what = `GET ${this.url(url).pathname}`;
    if (!response.ok) throw new ProviderError('exchange_failed', this.provider, `${this.provider} answered HTTP ${response.status} to ${what}`);
    try {
      return await response.json();
    } catch {
      throw new ProviderError('exchange_failed', this.provider, `${this.provider} answered ${what} with something other than JSON`);
    }
  }
}

async function readAll(response: Response, provider: Provider, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > MAX_ANSWER_BYTES) {
        await response.body.cancel().catch(() => undefined);
        throw new ProviderError('exchange_failed', provider, `${provider} answered ${what} with more than ${MAX_ANSWER_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** What went wrong on the way, in words that hold no part of the request. */
function transportProblem(error: unknown, timeoutMs: number): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no complete answer within ${timeoutMs} ms`;
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? `network error (${code})` : 'network error';
}
