// `trpc-caching/postgres`: invalidation from PostgreSQL's committed changes (logical replication, pgoutput),
// for writes tRPC never sees. Imports the optional peers `pg` and `pg-logical-replication`.

export { createPostgresListener, type PostgresListener } from './listener.js';
export { dropSlot, inspectSlot, type SlotState } from './slot.js';
export type {
  InvalidatingCaching,
  PostgresConnection,
  PostgresListenerEvent,
  PostgresListenerOptions,
  ResyncReason,
  RowChange,
  TableMapping,
  TableMappings,
} from './types.js';
export { type SlotReport, type WatchSlotOptions, watchSlot } from './watch.js';
