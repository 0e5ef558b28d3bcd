import { errorMessage } from '../../errors.js';
import { CONNECTION_ERROR_CODES } from '../connection-errors.js';

/**
 * An error of a store's connection to Redis: it names the server (`host:port`, never a password) and carries the
 * connection's own error as `cause`. `code` says whether the store has not connected yet (`connecting`) or cannot
 * reach the server (`unreachable`); see docs/failure-modes.md.
 *
 * @example
 * ```ts
 * store.on('error', (error) => {
 *   if (error instanceof RedisConnectionError) logger.warn({ address: error.address }, error.message);
 * });
 * ```
 */
export class RedisConnectionError extends Error {
  override readonly name = 'RedisConnectionError';
  readonly code: (typeof CONNECTION_ERROR_CODES)[keyof typeof CONNECTION_ERROR_CODES];
  constructor(
    /** The server: `host:port` of its URL, or the Cluster's root nodes. */
    readonly address: string,
    kind: keyof typeof CONNECTION_ERROR_CODES,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = CONNECTION_ERROR_CODES[kind];
  }
}

/** `host:port` of a `redis://` URL: what an error may show of it (never the user or password). */
export function addressOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the Redis URL';
  }
}

/** The connection events a `@redis/client` client emits. */
interface Followed {
  readonly isReady: boolean;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * The state of a store's connections to one server: connecting (none made yet), up, or failing. It turns the client's
 * stream of errors (one per reconnection attempt, every 50 ms to 2 s for as long as the server is away) into one
 * {@link RedisConnectionError} per change from working (or new) to failing, and gives every call made while a
 * connection is down an error that says why.
 */
export class ConnectionWatch {
  private state: 'connecting' | 'up' | 'failing' = 'connecting';
  private lastError: unknown;
  private readonly clients: Followed[] = [];

  constructor(
    readonly address: string,
    /** Told once per change to failing. */
    private readonly onFailing: (error: RedisConnectionError) => void,
  ) {}

  /** Follows a client's events: the connection is up while every followed client is ready. */
  follow(client: Followed): void {
    this.clients.push(client);
    client.on('ready', () => {
      if (this.clients.every((each) => each.isReady)) this.state = 'up';
    });
    client.on('error', (error) => this.down(error));
  }

  /** True once every followed client is connected. */
  get ready(): boolean {
    return this.clients.every((client) => client.isReady);
  }

  /** What went wrong last, for a caller that waited in vain. */
  describe(): string {
    if (this.state === 'failing') return `unreachable: ${errorMessage(this.lastError)}`;
    return this.state === 'connecting' ? 'still connecting' : 'reconnecting';
  }

  /**
   * Sends a command on `client`, or fails at once with an error naming the server when `client` is not connected
   * (there is no offline queue: the command would fail anyway, as "The client is offline").
   */
  send<T>(client: { readonly isReady: boolean }, command: () => Promise<T>): Promise<T> {
    if (!client.isReady) return Promise.reject(this.callError());
    // Not an async function: a hit makes one store call, and this adds one promise to it, not two.
    let sent: Promise<T>;
    try {
      sent = command();
    } catch (error) {
      return Promise.reject(error);
    }
    return sent.catch((error: unknown) => {
      // A connection lost while the command was in flight: say so, with the connection's own error.
      throw client.isReady ? error : this.callError(error);
    });
  }

  private down(error: unknown): void {
    this.lastError = error;
    if (this.state === 'failing') return;
    this.state = 'failing';
    this.onFailing(
      new RedisConnectionError(
        this.address,
        'unreachable',
        `Redis at ${this.address} is unreachable: ${errorMessage(error)}; calls bypass the cache until it is back`,
        error,
      ),
    );
  }

  private callError(cause?: unknown): RedisConnectionError {
    if (this.state === 'connecting') {
      return new RedisConnectionError(
        this.address,
        'connecting',
        `Redis at ${this.address}: not connected yet (await store.ready() at startup)`,
        cause,
      );
    }
    const why = this.state === 'failing' ? errorMessage(this.lastError) : 'the connection is being re-established';
    return new RedisConnectionError(
      this.address,
      'unreachable',
      `Redis at ${this.address} is unreachable (${why})`,
      cause ?? this.lastError,
    );
  }
}
