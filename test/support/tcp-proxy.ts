import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How the database goes away:
 * - `refuse`: nothing listens any more (a new connection gets ECONNREFUSED at once) and every open
 *   connection is reset, as when the database host is down;
 * - `blackhole`: connections are accepted and open ones stay open, but no byte gets through in
 *   either direction, as in a network partition; only the application's own timeouts end a wait.
 */
export type CutMode = 'refuse' | 'blackhole';

interface Pair {
  client: Socket;
  /** The connection to the database; none yet for a connection accepted while black-holed. */
  upstream?: Socket;
}

/**
 * A TCP proxy between the application and PostgreSQL that can take the database away, in either
 * CutMode, and give it back. Restoring a black hole lets the held bytes through, as TCP would once a
 * partition heals; restoring a refusal listens again on the same port.
 */
export class FaultyProxy {
  private readonly pairs = new Set<Pair>();
  private readonly server: Server;
  private mode: CutMode | undefined;
  private port = 0;
  /** Connections accepted so far. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Starts listening on 127.0.0.1 and returns the port (the same port for the proxy's whole life). */
  async listen(): Promise<number> {
    await new Promise<void>((done, fail) => {
      this.server.once('error', fail);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', fail);
        done();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  get isCut(): boolean {
    return this.mode !== undefined;
  }

  async cut(mode: CutMode): Promise<void> {
    if (this.mode) await this.restore();
    this.mode = mode;
    if (mode === 'refuse') {
      const closed = new Promise<void>((done) => this.server.close(() => done()));
      for (const pair of this.pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await closed;
    } else {
      for (const pair of this.pairs) stall(pair);
    }
  }

  async restore(): Promise<void> {
    const mode = this.mode;
    this.mode = undefined;
    if (mode === 'refuse') await this.listen();
    if (mode === 'blackhole') {
      for (const pair of this.pairs) {
        if (pair.upstream) flow(pair);
        else this.connectUpstream(pair);
      }
    }
  }

  async close(): Promise<void> {
    const wasListening = this.server.listening;
    this.mode = 'refuse';
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    if (wasListening) await new Promise<void>((done) => this.server.close(() => done()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    const pair: Pair = { client };
    this.pairs.add(pair);
    client.on('error', () => client.destroy());
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (this.mode === 'blackhole') {
      client.pause(); // held until restore(): whatever the client sends waits in the buffers
      return;
    }
    this.connectUpstream(pair);
  }

  private connectUpstream(pair: Pair): void {
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => upstream.destroy());
    upstream.on('close', () => pair.client.destroy());
    flow(pair);
  }
}

function flow(pair: Pair): void {
  pair.client.pipe(pair.upstream!);
  pair.upstream!.pipe(pair.client);
}

function stall(pair: Pair): void {
  pair.client.unpipe();
  pair.client.pause();
  pair.upstream?.unpipe();
  pair.upstream?.pause();
}
