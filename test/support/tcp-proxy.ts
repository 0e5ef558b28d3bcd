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
  blackhole(match?: ConnectionMatch): number;
  /** Forwards everything again, held bytes first. */
  forward(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

const OPENING_BYTES = 4096;

class Link implements ProxiedConnection {
  opening = '';
  held = false;
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
      if (this.held) this.toServer.push(chunk);
      else server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.held) this.toClient.push(chunk);
      else client.write(chunk);
    });
  }

  hold(): void {
    if (this.held) return;
    this.held = true;
    // Stop reading, so that bytes pile up in the kernel's buffers as they would behind a frozen peer.
    this.client.pause();
    this.server.pause();
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    for (const chunk of this.toServer.splice(0)) this.server.write(chunk);
    for (const chunk of this.toClient.splice(0)) this.client.write(chunk);
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
  const onOpening = (link: Link) => {
    if (match?.(link)) link.hold();
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
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
    blackhole(which = () => true) {
      match = which;
      let count = 0;
      for (const link of links) {
        if (which(link)) {
          link.hold();
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
