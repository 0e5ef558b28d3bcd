// The protocol lives in src/protocol/, shared with the server; the client re-exports what it always exported.
export * from '../protocol/index.js';
