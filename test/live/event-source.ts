// A small EventSource for Node 20 (which has none), for tRPC's httpSubscriptionLink in tests. It behaves as a
// browser's does where the tests rely on it: it reconnects by itself after the connection drops, sending the
// last event id it got as `Last-Event-ID`, and it can send headers (a browser's cannot: there, use cookies or
// connectionParams).

type Listener = (event: { type: string; data?: string; lastEventId?: string }) => void;

/** Init of {@link TestEventSource}: request headers, and a hook told of each connection attempt. */
export interface TestEventSourceInit {
  headers?: Record<string, string>;
  onConnect?: (lastEventId: string | undefined) => void;
  /** How to send the request (an adapter called without a server, such as a Lambda handler). @default globalThis.fetch */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export class TestEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readyState = 0;
  private readonly listeners = new Map<string, Set<Listener>>();
  private abort = new AbortController();
  private lastEventId = '';
  private retryMs = 200;

  constructor(
    readonly url: string,
    private readonly init: TestEventSourceInit = {},
  ) {
    void this.connect();
  }

  addEventListener(type: string, listener: Listener): void {
    const set = this.listeners.get(type) ?? new Set<Listener>();
    this.listeners.set(type, set);
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.readyState = this.CLOSED;
    this.abort.abort();
  }

  private dispatch(type: string, event: { data?: string; lastEventId?: string } = {}): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) listener({ type, ...event });
  }

  private async connect(): Promise<void> {
    this.abort = new AbortController();
    this.init.onConnect?.(this.lastEventId || undefined);
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...this.init.headers };
      if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
      const response = await (this.init.fetch ?? fetch)(this.url, { headers, signal: this.abort.signal });
      if (!response.ok || response.body === null) throw new Error(`status ${response.status}`);
      if (this.readyState === this.CLOSED) return;
      this.readyState = this.OPEN;
      this.dispatch('open');
      await this.read(response.body);
    } catch {
      // The connection dropped or was refused: retried below, as a browser's EventSource does.
    }
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CONNECTING;
    this.dispatch('error');
    setTimeout(() => {
      if (this.readyState !== this.CLOSED) void this.connect();
    }, this.retryMs);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let type = '';
    let data: string[] = [];
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (line === '') {
          if (data.length > 0 && this.readyState !== this.CLOSED) {
            this.dispatch(type || 'message', { data: data.join('\n'), lastEventId: this.lastEventId });
          }
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
        else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      }
    }
  }
}
