import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Webhook } from 'standardwebhooks';
import { AddressNotAllowedError, checkConnectedAddress, guardedLookup } from './webhook-addresses.js';

/** At most this much of a receiver's answer is read and kept (the delivery log shows it). */
export const MAX_EXCERPT_BYTES = 1024;

/** One message to send: the event's stored body, signed with each secret given. */
export interface OutgoingMessage {
  url: string;
  eventId: string;
  body: string;
  /** whsec_… secrets: the current one, and the previous one during a rotation. */
  secrets: string[];
}

/** How an attempt went. */
export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  /** The failure's class: http_status, redirect, timeout, connection_refused, dns_failed, address_not_allowed, network_error. */
  error: string | null;
  excerpt: string | null;
}

/** The signers of the secrets in use (a Webhook decodes its secret once). */
const signers = new Map<string, Webhook>();
const MAX_CACHED = 1000;

function signer(secret: string): Webhook {
  let found = signers.get(secret);
  if (!found) {
    if (signers.size >= MAX_CACHED) signers.clear();
    found = new Webhook(secret);
    signers.set(secret, found);
  }
  return found;
}

/** The Standard Webhooks headers: webhook-id (stable across retries), webhook-timestamp, webhook-signature (one v1 per secret). */
export function signedHeaders(message: OutgoingMessage, at: Date): Record<string, string> {
  const signatures = message.secrets.map((secret) => signer(secret).sign(message.eventId, at, message.body));
  return {
    'webhook-id': message.eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * Keep-alive connections, one pool per origin (and rule), so that a steady stream to an endpoint does
 * not open a connection per delivery. Unless insecure URLs are allowed, a connection is made only to
 * an address guardedLookup allowed and is checked once connected (checkConnectedAddress): a reused
 * connection goes to the address that was checked when it was made.
 */
const agents = new Map<string, HttpAgent>();

function agentFor(url: URL, allowInsecure: boolean): HttpAgent {
  const key = `${allowInsecure ? 'open' : 'guarded'} ${url.origin}`;
  let agent = agents.get(key);
  if (!agent) {
    if (agents.size >= MAX_CACHED) {
      for (const old of agents.values()) old.destroy();
      agents.clear();
    }
    const options = { keepAlive: true, timeout: 30_000, scheduling: 'lifo' as const, ...(allowInsecure ? {} : { lookup: guardedLookup }) };
    agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(key, agent);
  }
  return agent;
}

/**
 * Sends one message: a POST of the body with its signature, answered 2xx within `timeoutMs` or
 * failed. Redirects are not followed (a failure). Unless `allowInsecure`, the connection goes only to
 * an address that is allowed, as resolved for the connection itself and as connected to. No database
 * connection is held meanwhile; at most MAX_EXCERPT_BYTES of the answer are read (the rest of a
 * longer answer is not: its connection is closed rather than reused).
 */
export function send(message: OutgoingMessage, timeoutMs: number, allowInsecure: boolean): Promise<AttemptResult> {
  const started = performance.now();
  const finish = (result: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({ ...result, durationMs: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(message.url);
    } catch {
      return resolve(finish({ ok: false, statusCode: null, error: 'invalid_url', excerpt: null }));
    }
    const body = Buffer.from(message.body);
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': 'wearable-connections-webhooks/1',
        ...signedHeaders(message, new Date()),
      },
      agent: agentFor(url, allowInsecure),
    });
    let settled = false;
    const done = (result: Omit<AttemptResult, 'durationMs'>, reusable = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // An answer read to its end leaves its connection to the pool; any other is closed.
      if (!reusable) request.destroy();
      resolve(finish(result));
    };
    const timer = setTimeout(() => done({ ok: false, statusCode: null, error: 'timeout', excerpt: null }), timeoutMs);
    if (!allowInsecure) {
      request.on('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => checkConnectedAddress(socket));
      });
    }
    request.on('error', (error) => done({ ok: false, statusCode: null, error: errorClass(error), excerpt: null }));
    request.on('response', (response) => readExcerpt(response, (excerpt, complete) => done(outcome(response.statusCode ?? 0, excerpt), complete)));
    request.end(body);
  });
}

function outcome(status: number, excerpt: string): Omit<AttemptResult, 'durationMs'> {
  if (status >= 200 && status < 300) return { ok: true, statusCode: status, error: null, excerpt };
  return { ok: false, statusCode: status, error: status >= 300 && status < 400 ? 'redirect' : 'http_status', excerpt };
}

/** The first MAX_EXCERPT_BYTES of the answer, and whether that was all of it (the rest is never read: the socket is closed). */
function readExcerpt(response: IncomingMessage, then: (excerpt: string, complete: boolean) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  const end = (complete: boolean) => {
    if (ended) return;
    ended = true;
    then(Buffer.concat(chunks).subarray(0, MAX_EXCERPT_BYTES).toString('utf8'), complete);
  };
  response.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_EXCERPT_BYTES) end(false);
  });
  response.on('end', () => end(true));
  response.on('error', () => end(false));
  response.on('aborted', () => end(false));
}

function errorClass(error: unknown): string {
  if (error instanceof AddressNotAllowedError) return 'address_not_allowed';
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns_failed';
  if (code === 'ECONNRESET') return 'connection_reset';
  if (typeof code === 'string' && code.startsWith('ERR_TLS') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') return 'tls_error';
  return 'network_error';
}
