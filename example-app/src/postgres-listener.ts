// In Postgres mode, writes the app never sees (an edit in `psql`, a script) invalidate too: a listener follows the
// database's committed changes and moves, for each changed row, what the app's own mutations declare for it in
// router.ts. The live stream then carries the move to every open page.
import type { Caching } from 'trpc-caching';
import { createPostgresListener, type PostgresListener, type TableMappings } from 'trpc-caching/postgres';
import type { Context } from './trpc.js';

/** The app's tables as `pg` decodes their rows (db-postgres.ts makes them). */
export interface NotesTables {
  users: { id: string; name: string; token: string };
  notes: { id: number; owner_id: string; title: string; body: string; published: boolean; shared_with: string[]; updated_at: Date };
}

/**
 * For each table, what router.ts's mutations of the same rows invalidate. `old` is the row before an update or
 * delete (REPLICA IDENTITY FULL), so a note unshared or unpublished still reaches whom and what it concerned.
 */
export const NOTES_MAPPING: TableMappings<NotesTables> = {
  // users.rename: the user's own scope; paths `notes` and `feed` (the name shows on every note of its author).
  users: ({ row }) => ({ users: [row.id], paths: ['notes', 'feed'] }),
  // notes.create / update / delete / share / unshare: every participant, before and after; the note's tag; the feed
  // when the note is or was published.
  notes: ({ row, old }) => {
    const users = new Set([row.owner_id, ...row.shared_with, ...(old ? [old.owner_id, ...old.shared_with] : [])]);
    const inFeed = row.published || old?.published === true;
    return { users: [...users], tags: [`note:${row.id}`, ...(inFeed ? ['feed'] : [])] };
  },
};

/** Options of {@link followPostgres}. */
export interface FollowOptions {
  /** The logical replication slot and publication (made when missing). @default 'trpc_caching_example' */
  slot?: string;
  /** The mapping; the app's own by default (a test passes a broken one to see its test fail). @default NOTES_MAPPING */
  tables?: TableMappings<NotesTables>;
}

/**
 * Starts the listener on the database at `url` (its role needs the REPLICATION attribute) and waits, up to 10 s,
 * until it streams; past that the app serves anyway and the listener keeps trying in the background.
 */
export async function followPostgres(caching: Caching<Context>, url: string, options: FollowOptions = {}): Promise<PostgresListener> {
  const name = options.slot ?? 'trpc_caching_example';
  const listener = createPostgresListener<NotesTables>(caching, {
    connection: url,
    tables: options.tables ?? NOTES_MAPPING,
    slot: name,
    publication: name,
    // What a resync (first start, a changed mapping) invalidates: every cached path of the app.
    covers: { paths: ['users', 'notes', 'feed'] },
    onEvent: (event) => {
      if (event.type === 'applied' || event.type === 'connected') return;
      if (event.type === 'disconnected') console.warn(`[example] Postgres listener disconnected (${event.error.message}); retrying`);
      else
        console.warn(
          `[example] Postgres listener: ${event.type}`,
          'reason' in event ? event.reason : '',
          'message' in event ? event.message : '',
        );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), 10_000);
  });
  const outcome = await Promise.race([listener.ready.then(() => 'ready' as const), waited]);
  clearTimeout(timer);
  if (outcome === 'late')
    console.warn('[example] the Postgres listener is not streaming yet: writes outside the app invalidate once it is');
  return listener;
}
