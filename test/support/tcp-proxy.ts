import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One client connection through the proxy. */
export interface ProxiedConnection {
  /** The first bytes the client sent (up to 4 KiB, as latin1): enough to tell a connection by its handshake. */
  readonly opening: string;
  /** True while nothing is forwarded either way. */
  readonly held: boolean;
}

/** Which connections {@link TcpProxy.blackhole} holds. */
export type ConnectionMatch = (connection: ProxiedConnection) => boolean;

/** What a held connection stops forwarding: both ways, or only the server's bytes to the client (its commands still run). */
export type HeldDirection = 'both' | 'to-client';

/**
 * A loopback TCP proxy the test controls: forwards bytes both ways, and can
 * stop forwarding on chosen connections without closing them (a peer that
 * vanished, a frozen proxy: no FIN, no RST, writes still accepted by the
 * kernel, nothing delivered), forward again (held bytes then flow in order, as
 * after a healed partition), or close everything.
 */
export interface TcpProxy {
  readonly port: number;
  /** `redis://127.0.0.1:{port}`. */
  readonly url: string;
  /** Connections open now. */
  connections(): readonly ProxiedConnection[];
  /**
   * Stops forwarding on the open connections that match (every one by default) and on any later
   * connection that matches once its opening bytes arrived, until {@link forward}. Returns how many
   * open connections it held.
   */
  blackhole(match?: ConnectionMatch, direction?: HeldDirection): number;
  /** Forwards everything again, held bytes first (each direction's in one write, so the peer reads them together). */
  forward(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

const OPENING_BYTES = 4096;

class Link implements ProxiedConnection {
  opening = '';
  held = false;
  private toServerHeld = false;
  /** Bytes read from either side while held, forwarded in order on release. */
  private readonly toServer: Buffer[] = [];
  private readonly toClient: Buffer[] = [];

  constructor(
    readonly client: Socket,
    readonly server: Socket,
    private readonly onOpening: (link: Link) => void,
  ) {
    client.on('data', (chunk: Buffer) => {
      const before = this.opening.length;
      if (before < OPENING_BYTES) {
        this.opening += chunk.subarray(0, OPENING_BYTES - before).toString('latin1');
        this.onOpening(this);
      }
      if (this.toServerHeld) this.toServer.push(chunk);
      else server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.held) this.toClient.push(chunk);
      else client.write(chunk);
    });
  }

  hold(direction: HeldDirection): void {
    if (this.held) return;
    this.held = true;
    this.toServerHeld = direction === 'both';
    // Stop reading, so that bytes pile up in the kernel's buffers as they would behind a frozen peer.
    if (this.toServerHeld) this.client.pause();
    this.server.pause();
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.toServerHeld = false;
    if (this.toServer.length > 0) this.server.write(Buffer.concat(this.toServer.splice(0)));
    if (this.toClient.length > 0) this.client.write(Buffer.concat(this.toClient.splice(0)));
    this.client.resume();
    this.server.resume();
  }

  destroy(): void {
    this.client.destroy();
    this.server.destroy();
  }
}

/** Starts a proxy on a free loopback port to `127.0.0.1:{targetPort}`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  let match: ConnectionMatch | undefined;
  let holding: HeldDirection = 'both';
  const onOpening = (link: Link) => {
    if (match?.(link)) link.hold(holding);
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    // Without this, Nagle's algorithm meets delayed ACKs and small pipelined writes wait 40 ms here.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const link = new Link(client, upstream, onOpening);
    links.add(link);
    const end = () => {
      links.delete(link);
      link.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
  const port = address.port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    connections: () => [...links],
    blackhole(which = () => true, direction = 'both') {
      match = which;
      holding = direction;
      let count = 0;
      for (const link of links) {
        if (which(link)) {
          link.hold(direction);
          count++;
        }
      }
      return count;
    },
    forward() {
      match = undefined;
      for (const link of links) link.release();
    },
    close() {
      match = undefined;
      for (const link of links) link.destroy();
      links.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Matches the connections of a RESP3 client with tracking on: what a near cache opens. */
export const trackingConnection: ConnectionMatch = (connection) => /CLIENT\r\n\$8\r\nTRACKING/i.test(connection.opening);
