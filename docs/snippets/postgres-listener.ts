// docs/postgres.md "The listener", compiled by `tsc -p tsconfig.docs.json`; the guide shows it from the next line.
import { createCaching } from 'trpc-caching';
import { createPostgresListener } from 'trpc-caching/postgres';
import { createRedisStore } from 'trpc-caching/redis';

type Ctx = { user: { id: string } | null };

// Each table's row as `pg` decodes it (int4 as number, int8 and numeric as string, timestamptz as Date).
interface Tables {
  posts: { id: number; owner_id: string; title: string };
  comments: { id: number; post_id: number; author_id: string; body: string };
}

const store = createRedisStore({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store });

// Run it in one process (a second one waits on the slot and takes over when the first stops).
export const listener = createPostgresListener<Tables>(caching, {
  connection: process.env.DATABASE_URL ?? 'postgres://cache_listener@127.0.0.1:5432/app',
  tables: {
    // An update that moves a post to another owner invalidates both owners' scopes.
    posts: ({ row, old }) => ({ tags: [`post:${row.id}`], users: old ? [row.owner_id, old.owner_id] : [row.owner_id] }),
    comments: ({ row }) => ({ tags: [`post:${row.post_id}`], users: [row.author_id] }),
  },
  // What a resync invalidates: the paths the mapping can reach, not the whole cache.
  covers: { paths: ['post', 'feed'] },
  onEvent: (event) => {
    if (event.type === 'resync' || event.type === 'apply-failed' || event.type === 'slot-lagging' || event.type === 'warning') {
      console.warn('cache listener', event);
    }
  },
});

// On shutdown: stop streaming; the slot keeps what comes next for the next listener.
process.once('SIGTERM', () => void listener.close());
