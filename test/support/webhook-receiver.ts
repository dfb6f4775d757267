import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A message as the receiver got it, checked with the public Standard Webhooks verifier. */
export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The secrets (of those the receiver knows) whose verifier accepted the message. */
  verifiedWith: string[];
  /** The parsed body: {id, type, created_at, data}. */
  event: { id: string; type: string; created_at: string; data: Record<string, unknown> };
}

/** What the receiver does with the next requests: answer 2xx, fail with a status, answer too late, or hold until released. */
export type Behaviour = { status: number; body?: string } | { delayMs: number; status?: number } | 'hold';

/**
 * A consumer's webhook receiver on loopback: every request is recorded and verified with the
 * `standardwebhooks` library against the secrets it is given (as a receiver built for Standard
 * Webhooks or Svix would), and answered as scripted (200 by default).
 */
export interface WebhookReceiver {
  url: string;
  port: number;
  received: Received[];
  /** The secrets its verifier tries. */
  secrets: string[];
  /** The behaviour of the next requests, one each, before the default. */
  script: Behaviour[];
  /** The behaviour once the script is used up. */
  defaultBehaviour: Behaviour;
  /** Answers the held requests (200). */
  release(): void;
  held(): number;
  /** Resolves once `count` requests of events matching `where` arrived. */
  until(count: number, where?: (message: Received) => boolean, timeoutMs?: number): Promise<Received[]>;
  stop(): Promise<void>;
  /** Starts again on the same port (after stop()). */
  start(): Promise<void>;
}

export async function startReceiver(path = '/hooks', port = 0): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const heldResponses: ServerResponse[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    port,
    received,
    secrets: [],
    script: [],
    defaultBehaviour: { status: 200 },
    release: () => {
      for (const res of heldResponses.splice(0)) res.writeHead(200).end('ok');
    },
    held: () => heldResponses.length,
    async until(count, where = () => true, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const matching = received.filter(where);
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${count} webhook messages (got ${matching.length}: ${matching.map((m) => m.event.type).join(', ')})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    start: () => new Promise<void>((resolve) => server.listen(receiver.port, '127.0.0.1', resolve)),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
      const verifiedWith = receiver.secrets.filter((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      let event: Received['event'];
      try {
        event = JSON.parse(body) as Received['event'];
      } catch {
        event = { id: '', type: 'unparsable', created_at: '', data: {} };
      }
      received.push({ at: Date.now(), headers: req.headers, body, verifiedWith, event });
      const behaviour = receiver.script.shift() ?? receiver.defaultBehaviour;
      if (behaviour === 'hold') return void heldResponses.push(res);
      if ('delayMs' in behaviour) {
        setTimeout(() => {
          if (!res.destroyed) res.writeHead(behaviour.status ?? 200).end('late');
        }, behaviour.delayMs);
        return;
      }
      res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end(behaviour.body ?? 'ok');
    });
  });
  await receiver.start();
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}${path}`;
  return receiver;
}
