import { ProtectedVersions } from './protected-versions.js';

/**
 * What the watch asks of a connection: whether it is up, its socket's epoch (one more on each reconnection) and a raw
 * command. A `@redis/client` client is one.
 *
 * @example
 * ```ts
 * const client: IdentifiedClient = createClient({ url });
 * ```
 */
export interface IdentifiedClient {
  readonly isReady: boolean;
  readonly socketEpoch: number;
  sendCommand(args: string[]): Promise<unknown>;
}

/** One field of an INFO reply (`name:value` lines), empty when absent. */
function field(info: string, name: string): string {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
}

/**
 * Who a connection reaches: the server process (`run_id`, new at every start) and its place in replication (`role`,
 * `master_replid`, new when a replica is promoted). Two INFO sections, as INFO takes one section before Redis 7.
 */
async function identityOf(client: IdentifiedClient): Promise<string> {
  const [server, replication] = await Promise.all([client.sendCommand(['INFO', 'server']), client.sendCommand(['INFO', 'replication'])]);
  const [s, r] = [String(server), String(replication)];
  return `${field(s, 'run_id')} ${field(r, 'role')} ${field(r, 'master_replid')}`;
}

/**
 * Tells when the server at a single-node store's URL is not the one it was, so that data it lost is never served.
 *
 * Every new connection (the first of each client, and each reconnection) asks the server who it is: a restart (with
 * or without AOF or RDB: the last writes may be lost, versions moved among them), or another server reached at the
 * same URL (a promoted replica after a sentinel-style switch, which may lack its primary's last writes) comes back
 * with another `run_id`, `role` or `master_replid`. Reads on a connection are refused until its server was checked;
 * after a switch, every read is refused until the protected keys (the engine's global version) got fresh values on
 * the new server (a plain SET, no WAIT): every entry from before then misses, in every process that saw the switch.
 * The first server a process reaches is no switch.
 *
 * @example
 * ```ts
 * const switches = new ServerSwitchWatch(async (keys, ttl) => writeFreshTokens(keys, ttl));
 * client.on('ready', () => void switches.check(client));
 * if (!switches.admits(client)) throw new Error('the server changed: reads wait for a fresh global version');
 * ```
 */
export class ServerSwitchWatch extends ProtectedVersions {
  /** The server last identified, undefined before the first answer. */
  private seen: string | undefined;
  /** Moves after a switch in flight: while any is, no read is served. */
  private moving = 0;
  /** The socket epoch each client's server was checked on. */
  private readonly checked = new WeakMap<IdentifiedClient, number>();

  constructor(
    renew: (keys: readonly string[], ttl: number) => Promise<void>,
    private readonly report: (error: unknown) => void = () => {},
  ) {
    super(renew, report);
  }

  /**
   * Checks the server `client`'s new connection reaches (call it on the client's `ready`); resolves once reads on it
   * may be served: at once when it is the server seen before, after the move when it is another one.
   */
  async check(client: IdentifiedClient): Promise<void> {
    const epoch = client.socketEpoch;
    let identity: string;
    try {
      identity = await identityOf(client);
    } catch (error) {
      // A server that refuses INFO (an ACL, a renamed command) cannot be watched: serve it rather than never, and say so.
      if (!client.isReady || client.socketEpoch !== epoch) return; // The connection was lost: the next one is checked.
      this.report(
        new Error(`cannot tell whether the Redis server changed (INFO refused: ${String(error)}); a restart may serve rolled-back entries`),
      );
      identity = this.seen ?? '';
    }
    if (client.socketEpoch !== epoch) return;
    const before = this.seen;
    this.seen = identity;
    if (before !== undefined && before !== identity) {
      this.failovers++;
      this.moving++;
      try {
        await this.renewAll();
      } finally {
        this.moving--;
      }
    }
    if (client.socketEpoch === epoch) this.checked.set(client, epoch);
  }

  /** Whether reads on `client` may be served: its connection's server was checked, and no move after a switch is in flight. */
  admits(client: IdentifiedClient): boolean {
    return this.moving === 0 && this.checked.get(client) === client.socketEpoch;
  }
}
