import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { Webhook } from 'standardwebhooks';
import { AddressNotAllowedError, checkConnectedAddress, guardedLookup, isAllowedAddress } from './webhook-addresses.js';

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
 * Keep-alive connections, one pool per endpoint origin (undici's Agent), so that a steady stream to an
 * endpoint does not open a connection per delivery. Unless insecure URLs are allowed, a connection is
 * made only to an address guardedLookup allowed, and is checked again once connected, before any byte of
 * a request is written to it (for TLS, before the handshake): a reused connection goes to the address
 * that was checked when it was made. One Agent per rule and timeout (the timeout is configuration, so
 * there are one or two).
 */
const agents = new Map<string, Agent>();

function agentFor(allowInsecure: boolean, timeoutMs: number): Agent {
  const key = `${allowInsecure ? 'open' : 'guarded'} ${timeoutMs}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ connect: allowInsecure ? buildConnector({ timeout: timeoutMs }) : guardedConnector(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    agents.set(key, agent);
  }
  return agent;
}

function guardedConnector(timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup });
  return (options, callback) => {
    // The connector answers with its socket, though its type says nothing of it.
    const socket = connect(options, (error, connected) => {
      if (error) return callback(error, null);
      if (!isAllowedAddress(connected.remoteAddress ?? '')) {
        connected.destroy();
        return callback(new AddressNotAllowedError(), null);
      }
      callback(null, connected);
    }) as unknown as Socket;
    // TLS: the TCP connection's address is checked as soon as it is made, so no handshake goes on with it.
    if (options.protocol === 'https:') socket.once('connect', () => checkConnectedAddress(socket));
    return socket;
  };
}

/**
 * The attempt's deadline, as the signal undici takes (an AbortSignal or an EventEmitter that emits
 * 'abort'): an EventEmitter costs a fraction of an AbortController, made per delivery.
 */
class Deadline extends EventEmitter {
  aborted = false;

  abort(): void {
    this.aborted = true;
    this.emit('abort');
  }
}

/**
 * Sends one message: a POST of the body with its signature, answered 2xx within `timeoutMs` or
 * failed. Redirects are not followed (a failure). Unless `allowInsecure`, the connection goes only to
 * an address that is allowed, as resolved for the connection itself and as connected to. No database
 * connection is held meanwhile; at most MAX_EXCERPT_BYTES of the answer are read (the rest of a
 * longer answer is not: its connection is closed rather than reused).
 */
export async function send(message: OutgoingMessage, timeoutMs: number, allowInsecure: boolean): Promise<AttemptResult> {
  const started = performance.now();
  const finish = (result: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({ ...result, durationMs: Math.round(performance.now() - started) });
  let url: URL;
  try {
    url = new URL(message.url);
  } catch {
    return finish({ ok: false, statusCode: null, error: 'invalid_url', excerpt: null });
  }
  const timeout = new Deadline();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  try {
    const response = await agentFor(allowInsecure, timeoutMs).request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'wearable-connections-webhooks/1',
        ...signedHeaders(message, new Date()),
      },
      body: message.body,
      signal: timeout,
    });
    const excerpt = await readExcerpt(response.body);
    if (timeout.aborted) return finish({ ok: false, statusCode: null, error: 'timeout', excerpt: null });
    return finish(outcome(response.statusCode, excerpt));
  } catch (error) {
    return finish({ ok: false, statusCode: null, error: timeout.aborted ? 'timeout' : errorClass(error), excerpt: null });
  } finally {
    clearTimeout(timer);
  }
}

function outcome(status: number, excerpt: string): Omit<AttemptResult, 'durationMs'> {
  if (status >= 200 && status < 300) return { ok: true, statusCode: status, error: null, excerpt };
  return { ok: false, statusCode: status, error: status >= 300 && status < 400 ? 'redirect' : 'http_status', excerpt };
}

/**
 * The first MAX_EXCERPT_BYTES of the answer. An answer read to its end leaves its connection to the
 * pool; a longer one is not read further (its connection is closed), nor is one that fails midway
 * (what came of it is kept).
 */
async function readExcerpt(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_EXCERPT_BYTES) break; // leaving the loop destroys the body, and its connection
    }
  } catch {
    // the answer broke off: what was read is the excerpt
  }
  return Buffer.concat(chunks).subarray(0, MAX_EXCERPT_BYTES).toString('utf8');
}

function errorClass(error: unknown): string {
  if (error instanceof AddressNotAllowedError) return 'address_not_allowed';
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns_failed';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection_reset';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (typeof code === 'string' && code.startsWith('ERR_TLS') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') return 'tls_error';
  return 'network_error';
}
