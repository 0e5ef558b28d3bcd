import pg from 'pg';
import { type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import { formatLsn } from './lsn.js';
import type { PostgresConnection } from './types.js';

/** One item of the stream, in the order the server sent it. */
export type StreamItem =
  | { readonly kind: 'message'; readonly message: Pgoutput.Message }
  /** The server's position when nothing earlier in the stream is unsent: safe to confirm once every earlier item is applied. */
  | { readonly kind: 'keepalive'; readonly lsn: bigint };

/** Options of {@link openReplication}. */
export interface ReplicationOptions {
  readonly connection: PostgresConnection;
  readonly slot: string;
  readonly publication: string;
  /**
   * Applies one item; the next waits for it. `more`: further items are already waiting (a backlog), so work can
   * be gathered. A rejection ends the stream, unacknowledged.
   */
  readonly apply: (item: StreamItem, more: boolean) => Promise<void> | void;
  /** How often to tell the server the confirmed position when nothing else does, in ms. */
  readonly statusInterval: number;
  /** The slot's confirmed position now: what status messages say until `confirm` moves it (never backwards). */
  readonly from: bigint;
}

/** A running replication stream; see {@link openReplication}. */
export interface ReplicationStream {
  /** The server process of the walsender (for `pg_terminate_backend` in tests and operations). */
  readonly pid: number;
  /** Resolves with the reason once the stream has ended, whatever ended it. */
  readonly ended: Promise<Error>;
  /** Everything up to `lsn` is applied: tell the server it may drop that WAL and never send it again. */
  confirm(lsn: bigint): void;
  /** Asks the server for a keepalive now (which confirms its position once every earlier item is applied). */
  ping(): void;
  readonly confirmed: bigint;
  close(): Promise<void>;
}

/** Most items waiting to be applied before the socket stops being read (PostgreSQL then waits, its slot keeping the rest). */
const HIGH_WATER = 2_000;
const MICROS_2000 = 946_684_800_000_000n;

/** pg's configuration for the listener's connection: the replication kind, or a plain one. */
export function clientConfig(connection: PostgresConnection, replication: boolean): pg.ClientConfig {
  const base: pg.ClientConfig = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
  return replication ? ({ ...base, replication: 'database' } as pg.ClientConfig) : base;
}

/**
 * Opens a replication connection and streams the slot from its confirmed position through pgoutput (protocol 1,
 * committed transactions only, each whole between BEGIN and COMMIT). Items are applied one at a time in order;
 * nothing is confirmed but what `confirm` is told, so a change is read again after any failure until it is applied.
 *
 * Uses `pg`'s connection for the copy-both protocol and `pg-logical-replication`'s pgoutput decoder; not its
 * `LogicalReplicationService`, which confirms what it received rather than what was applied.
 */
export async function openReplication(options: ReplicationOptions): Promise<ReplicationStream> {
  const client = new pg.Client(clientConfig(options.connection, true));
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication] });
  // pg's Connection: the protocol-level object whose copy-data events and raw writes the replication protocol needs.
  const connection = (client as unknown as { connection: PgConnection }).connection;
  let confirmed = options.from;
  let ending: Error | undefined;
  let resolveEnded: (error: Error) => void = () => {};
  const ended = new Promise<Error>((resolve) => {
    resolveEnded = resolve;
  });
  const end = (error: Error): void => {
    if (ending !== undefined) return;
    ending = error;
    clearInterval(timer);
    resolveEnded(error);
    client.end().catch(() => {});
  };
  client.on('error', (error) => end(error));

  const queue: StreamItem[] = [];
  let draining = false;
  let paused = false;
  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length > 0 && ending === undefined) {
        const item = queue.shift() as StreamItem;
        await options.apply(item, queue.length > 0);
        if (paused && queue.length < HIGH_WATER / 4) {
          paused = false;
          connection.stream.resume();
        }
      }
    } catch (error) {
      end(error instanceof Error ? error : new Error(String(error)));
    } finally {
      draining = false;
    }
  };

  const sendStatus = (replyRequested: boolean): void => {
    if (ending !== undefined) return;
    // Standby status update: written, flushed and applied positions (all the confirmed one), the time, reply flag.
    const message = Buffer.alloc(34);
    message.write('r', 0);
    message.writeBigUInt64BE(confirmed, 1);
    message.writeBigUInt64BE(confirmed, 9);
    message.writeBigUInt64BE(confirmed, 17);
    message.writeBigInt64BE(BigInt(Date.now()) * 1000n - MICROS_2000, 25);
    message.writeUInt8(replyRequested ? 1 : 0, 33);
    connection.sendCopyFromChunk(message);
  };
  let statusSoon = false;
  const timer = setInterval(() => sendStatus(false), options.statusInterval);
  timer.unref();

  connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
    if (ending !== undefined) return;
    try {
      if (chunk[0] === 0x77) {
        // XLogData: start, end, time, then one pgoutput message.
        queue.push({ kind: 'message', message: plugin.parse(chunk.subarray(25)) });
      } else if (chunk[0] === 0x6b) {
        // Primary keepalive: the server's position, its time, whether it wants an answer now (or it times us out).
        queue.push({ kind: 'keepalive', lsn: chunk.readBigUInt64BE(1) });
        if (chunk[17] === 1) sendStatus(false);
      } else {
        return;
      }
    } catch (error) {
      end(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (!paused && queue.length >= HIGH_WATER) {
      paused = true;
      connection.stream.pause();
    }
    void drain();
  });

  try {
    await client.connect();
  } catch (error) {
    end(error as Error);
    throw error;
  }
  const pid = (client as unknown as { processID: number }).processID;
  const started = new Promise<void>((resolve) => connection.once('replicationStart', () => resolve()));
  // From 0/0: the server starts at the slot's confirmed position (a later start would skip what lies between).
  const streaming = plugin.start(client, options.slot, formatLsn(0n));
  streaming.then(
    () => end(new Error('the replication stream ended')),
    (error: Error) => end(error),
  );
  const first = await Promise.race([started.then(() => undefined), ended]);
  if (first !== undefined) throw first;
  return {
    pid,
    ended,
    get confirmed() {
      return confirmed;
    },
    confirm(lsn) {
      if (lsn <= confirmed) return;
      confirmed = lsn;
      // One status message for a burst of confirmations.
      if (statusSoon) return;
      statusSoon = true;
      setImmediate(() => {
        statusSoon = false;
        sendStatus(false);
      });
    },
    ping: () => sendStatus(true),
    async close() {
      end(new Error('closed'));
      await client.end().catch(() => {});
    },
  };
}

/** The part of pg's internal Connection the replication protocol uses. */
interface PgConnection {
  readonly stream: { pause(): void; resume(): void };
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
}

/** Microseconds since the Unix epoch (pgoutput's commit time as decoded) to ms before now. */
export function msSince(commitMicros: bigint): number {
  return Date.now() - Number(commitMicros / 1000n);
}
