// The API: the same procedures over tRPC (/trpc) and REST (/api, through meta.openapi).
import { TRPCError } from '@trpc/server';
import type { Caching, InputRecord } from 'trpc-caching';
import { z } from 'zod';
import type { Note } from './db.js';
import { authedProcedure, type Context, publicProcedure, router } from './trpc.js';

const userSchema = z.object({ id: z.string(), name: z.string() });

const noteSchema = z.object({
  id: z.number(),
  ownerId: z.string(),
  ownerName: z.string(),
  title: z.string(),
  body: z.string(),
  published: z.boolean(),
  sharedWith: z.array(z.string()),
  updatedAt: z.string(),
});

const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), page: z.number(), pageSize: z.number(), total: z.number() });

const pagination = z.object({
  page: z.number().int().min(1).default(1),
  pageSize: z.number().int().min(1).max(50).default(10),
});

const noteId = z.object({ id: z.number().int() });

/** Everyone a note concerns: its owner and the users it is shared with (adrf-caching's `invalidate_fields`). */
function participants(note: InputRecord): string[] {
  const owner = typeof note.ownerId === 'string' ? [note.ownerId] : [];
  const shared = Array.isArray(note.sharedWith) ? note.sharedWith.filter((id): id is string => typeof id === 'string') : [];
  return [...owner, ...shared];
}

/** `note:<id>`, the tag of one note; the id is a number over tRPC and a string over REST, the tag is the same. */
const noteTag = (id: unknown) => `note:${String(id)}`;

/**
 * `feed` when the note is published: the feed shows every field of its notes (title, owner's name, `sharedWith`),
 * so any mutation of a published note moves the feed's tag too, or every reader keeps the feed as it was.
 */
const feedOf = (note: InputRecord) => (note.published === true ? ['feed'] : []);

function found(note: Note | undefined, id: number): Note {
  if (note === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `No note ${id} that you can see` });
  return note;
}

/** Builds the router on a caching instance (in memory or Redis, chosen at startup). */
export function createAppRouter(caching: Caching<Context>) {
  // Real tRPC builders: the auth middleware runs first, then the cache.
  const cachedQuery = caching.cachedQuery(authedProcedure);
  const invalidatingMutation = caching.invalidatingMutation(authedProcedure);
  const publicCachedQuery = caching.cachedQuery(publicProcedure);
  // The demo's message of the day (see `demo` below): kept here, not in the database, as a demo needs nothing more.
  let motd = 'Welcome';

  const appRouter = router({
    users: router({
      me: cachedQuery
        .meta({ openapi: { method: 'GET', path: '/me', tags: ['users'], summary: 'The caller' } })
        .input(z.void())
        .output(userSchema)
        .query(async ({ ctx }) => {
          const user = await ctx.db.user(ctx.user.id);
          if (user === undefined) throw new TRPCError({ code: 'NOT_FOUND' });
          return { id: user.id, name: user.name };
        }),
      rename: invalidatingMutation
        // A name shows on every note of its author, in every user's lists and in the public feed.
        .meta({
          openapi: { method: 'PATCH', path: '/me', tags: ['users'], summary: 'Change your display name' },
          invalidate: { paths: ['notes', 'feed'] },
        })
        .input(z.object({ name: z.string().min(1).max(80) }))
        .output(userSchema)
        .mutation(async ({ ctx, input }) => {
          const user = await ctx.db.renameUser(ctx.user.id, input.name);
          if (user === undefined) throw new TRPCError({ code: 'NOT_FOUND' });
          return { id: user.id, name: user.name };
        }),
    }),

    notes: router({
      list: cachedQuery
        .meta({
          openapi: { method: 'GET', path: '/notes', tags: ['notes'], summary: 'Your notes and the notes shared with you' },
          cache: { ttl: 60_000 },
        })
        .input(pagination)
        .output(pageOf(noteSchema))
        .query(({ ctx, input }) => ctx.db.listNotes(ctx.user.id, input.page, input.pageSize)),
      byId: cachedQuery
        .meta({
          openapi: { method: 'GET', path: '/notes/{id}', tags: ['notes'], summary: 'One note' },
          cache: { ttl: 60_000, tags: ({ input }) => [noteTag(input.id)] },
        })
        .input(noteId)
        .output(noteSchema)
        .query(async ({ ctx, input }) => found(await ctx.db.noteFor(ctx.user.id, input.id), input.id)),
      create: invalidatingMutation
        // The author's lists (self, the default) and, when published, the public feed.
        .meta({
          openapi: { method: 'POST', path: '/notes', tags: ['notes'], summary: 'Write a note' },
          invalidate: { tags: ({ result }) => feedOf(result) },
        })
        .input(
          z.object({ title: z.string().min(1).max(200), body: z.string().max(10_000).default(''), published: z.boolean().default(false) }),
        )
        .output(noteSchema)
        .mutation(({ ctx, input }) => ctx.db.createNote(ctx.user.id, input)),
      update: invalidatingMutation
        // Every participant's lists and notes, every user's copy of this note, and the feed when the note is or was in it.
        .meta({
          openapi: {
            method: 'PATCH',
            path: '/notes/{id}',
            tags: ['notes'],
            summary: 'Edit a note (its owner or a user it is shared with)',
          },
          invalidate: {
            users: ({ result }) => participants(result),
            tags: ({ input, result }) => [
              noteTag(result.id),
              // Published now, or unpublished by this edit: in the feed before or after it.
              ...(input.published !== undefined ? ['feed'] : feedOf(result)),
            ],
          },
        })
        .input(
          noteId.extend({
            title: z.string().min(1).max(200).optional(),
            body: z.string().max(10_000).optional(),
            published: z.boolean().optional(),
          }),
        )
        .output(noteSchema)
        .mutation(async ({ ctx, input }) => {
          const { id, ...fields } = input;
          return found(await ctx.db.updateNote(ctx.user.id, id, fields), id);
        }),
      delete: invalidatingMutation
        .meta({
          openapi: { method: 'DELETE', path: '/notes/{id}', tags: ['notes'], summary: 'Delete one of your notes' },
          invalidate: {
            users: ({ result }) => participants(result),
            tags: ({ result }) => [noteTag(result.id), ...feedOf(result)],
          },
        })
        .input(noteId)
        .output(noteSchema)
        .mutation(async ({ ctx, input }) => found(await ctx.db.deleteNote(ctx.user.id, input.id), input.id)),
      share: invalidatingMutation
        // The note appears in the new participant's list; the others (and the feed, if it is published) see a new `sharedWith`.
        .meta({
          openapi: { method: 'POST', path: '/notes/{id}/shares', tags: ['notes'], summary: 'Share one of your notes with a user' },
          invalidate: { users: ({ result }) => participants(result), tags: ({ result }) => [noteTag(result.id), ...feedOf(result)] },
        })
        .input(noteId.extend({ userId: z.string().min(1) }))
        .output(noteSchema)
        .mutation(async ({ ctx, input }) => {
          if (!(await ctx.db.userExists(input.userId))) throw new TRPCError({ code: 'BAD_REQUEST', message: `No user ${input.userId}` });
          return found(await ctx.db.setShared(ctx.user.id, input.id, input.userId, true), input.id);
        }),
      unshare: invalidatingMutation
        // The user it is no longer shared with is not in the result any more: named from the input.
        .meta({
          openapi: { method: 'DELETE', path: '/notes/{id}/shares/{userId}', tags: ['notes'], summary: 'Stop sharing one of your notes' },
          invalidate: {
            users: ({ input, result }) => [...participants(result), ...(typeof input.userId === 'string' ? [input.userId] : [])],
            tags: ({ result }) => [noteTag(result.id), ...feedOf(result)],
          },
        })
        .input(noteId.extend({ userId: z.string().min(1) }))
        .output(noteSchema)
        .mutation(async ({ ctx, input }) => found(await ctx.db.setShared(ctx.user.id, input.id, input.userId, false), input.id)),
    }),

    feed: router({
      list: publicCachedQuery
        // One entry for everyone, anonymous callers included; note mutations invalidate it through the `feed` tag.
        .meta({
          openapi: { method: 'GET', path: '/feed', tags: ['feed'], summary: 'Published notes of every user', protect: false },
          // Behind an edge (npm run example:edge) Varnish keeps it 10 minutes: every mutation of the feed purges it.
          cache: { scope: 'public', ttl: 30_000, tags: ['feed'], sMaxAge: 10 * 60_000 },
        })
        .input(pagination)
        .output(pageOf(noteSchema))
        .query(({ ctx, input }) => ctx.db.feed(input.page, input.pageSize)),
    }),

    // A deliberate bug, for the consistency auditor to find (docs/consistency.md): `setMotd` does not invalidate the
    // `motd` tag its query is cached under, so readers keep the old message until the TTL ends. Start the example with
    // AUDIT_SAMPLE_RATE=1: the first read after a change logs the divergence, naming demo.setMotd, and /metrics counts it.
    demo: router({
      motd: publicCachedQuery
        .meta({
          openapi: { method: 'GET', path: '/demo/motd', tags: ['demo'], summary: 'Message of the day (cached)', protect: false },
          cache: { scope: 'public', ttl: 60_000, tags: ['motd'] },
        })
        .input(z.void())
        .output(z.object({ text: z.string() }))
        .query(() => ({ text: motd })),
      setMotd: invalidatingMutation
        // Incomplete on purpose: the fix is `invalidate: { tags: ['motd'] }`.
        .meta({ openapi: { method: 'PUT', path: '/demo/motd', tags: ['demo'], summary: 'Change it (forgets to invalidate it)' } })
        .input(z.object({ text: z.string().min(1).max(200) }))
        .output(z.object({ text: z.string() }))
        .mutation(({ input }) => {
          motd = input.text;
          return { text: motd };
        }),
    }),

    // The live invalidation stream (SSE): each connection hears every move that affects its user; an anonymous one,
    // public moves. The web page at /app subscribes to it through invalidationLink.
    invalidations: caching.invalidationStream(publicProcedure),
  });

  // A bad meta.cache or meta.invalidate fails here, at startup, not at the first call.
  caching.validateRouter(appRouter);
  return appRouter;
}

/** The router's type, for typed clients (`createTRPCClient<AppRouter>`). */
export type AppRouter = ReturnType<typeof createAppRouter>;
