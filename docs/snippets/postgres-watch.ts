// docs/postgres.md "Slots", compiled by `tsc -p tsconfig.docs.json`; the guide shows it from the next line.
import { watchSlot } from 'trpc-caching/postgres';

// In every app server (or a cron job): a slot nobody follows keeps WAL on the database's disk.
export const watch = watchSlot({
  connection: process.env.DATABASE_URL ?? 'postgres://monitor@127.0.0.1:5432/app',
  slot: 'trpc_caching',
  maxInactiveMs: 10 * 60_000,
  maxLagBytes: 1024 ** 3,
  onReport: (report) => console.error(`cache listener slot ${report.slot}: ${report.problem}`, report),
});
