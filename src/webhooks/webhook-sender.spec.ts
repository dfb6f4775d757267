/**
 * send() against real HTTP servers on loopback (insecure URLs allowed, as in tests): what it reports
 * of each kind of answer, that it follows no redirect, reads at most 1 KB of an answer, and keeps a
 * connection for the next delivery only when the answer was read to its end.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { MAX_EXCERPT_BYTES, send } from './webhook-sender.js';

const SECRET = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
const servers: Server[] = [];

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  socket: Socket;
}

async function server(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const made = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), socket: req.socket });
      answer(req, res);
    });
  });
  servers.push(made);
  await new Promise<void>((resolve) => made.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(made.address() as AddressInfo).port}`, seen };
}

afterEach(async () => {
  for (const made of servers.splice(0)) {
    made.closeAllConnections();
    await new Promise((resolve) => made.close(resolve));
  }
});

const message = (url: string, eventId = 'evt_0123') => ({ url, eventId, body: JSON.stringify({ id: eventId, type: 'webhook.test' }), secrets: [SECRET] });

describe('send', () => {
  it('posts the body with Standard Webhooks headers that the reference verifier accepts; a 2xx is a success', async () => {
    const target = await server((_req, res) => res.writeHead(204).end());
    const result = await send(message(`${target.url}/hooks?x=1`), 5_000, true);
    expect(result).toMatchObject({ ok: true, statusCode: 204, error: null });
    const [request] = target.seen;
    expect(request.url).toBe('/hooks?x=1');
    expect(request.headers['content-type']).toBe('application/json');
    const headers = { 'webhook-id': String(request.headers['webhook-id']), 'webhook-timestamp': String(request.headers['webhook-timestamp']), 'webhook-signature': String(request.headers['webhook-signature']) };
    expect(new Webhook(SECRET).verify(request.body, headers)).toEqual({ id: 'evt_0123', type: 'webhook.test' });
  });

  it('follows no redirect: a 302 is a failure of class redirect, and its Location gets nothing', async () => {
    const elsewhere = await server((_req, res) => res.writeHead(200).end());
    const target = await server((_req, res) => res.writeHead(302, { location: `${elsewhere.url}/stolen` }).end());
    const result = await send(message(target.url), 5_000, true);
    expect(result).toMatchObject({ ok: false, statusCode: 302, error: 'redirect' });
    expect(elsewhere.seen).toEqual([]);
  });

  it('keeps at most 1 KB of a long answer, and does not reuse its connection; a complete answer leaves it for the next', async () => {
    const target = await server((req, res) => (req.url === '/long' ? res.writeHead(500).end('y'.repeat(64 * 1024)) : res.writeHead(200).end('ok')));
    const failed = await send(message(`${target.url}/long`), 5_000, true);
    expect(failed).toMatchObject({ ok: false, statusCode: 500, error: 'http_status' });
    expect(failed.excerpt).toBe('y'.repeat(MAX_EXCERPT_BYTES));
    for (let i = 0; i < 5; i++) {
      expect(await send(message(`${target.url}/short`), 5_000, true)).toMatchObject({ ok: true, excerpt: 'ok' });
      // A connection goes back to the pool a moment after send() resolves, as deliveries come in a stream.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [long, ...short] = target.seen;
    expect(short.map((request) => request.socket)).not.toContain(long.socket);
    // Reused: the first may open a new one while the closed one is being let go, the others reuse it.
    expect(new Set(short.map((request) => request.socket)).size).toBeLessThanOrEqual(2);
  });

  it('ends an attempt at its timeout, as a timeout, and classes a refused connection', async () => {
    const slow = await server((_req, res) => setTimeout(() => res.writeHead(200).end(), 3_000));
    // The receiver would answer 200 after 3 s: ended at 300 ms, the attempt is a timeout, not a success.
    expect(await send(message(slow.url), 300, true)).toMatchObject({ ok: false, statusCode: null, error: 'timeout' });
    const closed = await server(() => undefined);
    const url = closed.url;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await send(message(url), 2_000, true)).toMatchObject({ ok: false, statusCode: null, error: 'connection_refused' });
  });
});
