/**
 * What every benchmark serves: a list of 20 records (about 3 KB of JSON) for
 * an input of a few fields, behind an authentication middleware, as a real
 * tRPC app would have it.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z } from 'zod';
import type { CachingMeta } from '../src/index.js';

export interface BenchCtx {
  user: { id: string } | null;
}

export interface BenchRecord {
  id: number;
  title: string;
  author: { id: string; name: string };
  tags: string[];
  score: number;
  createdAt: string;
}

/** The input of the list procedures: a few fields, one of them optional. */
export const listInput = z.object({
  page: z.number().int().min(1),
  sort: z.enum(['new', 'top']),
  tag: z.string().optional(),
});
export type ListInput = z.infer<typeof listInput>;

export const INPUT: ListInput = { page: 1, sort: 'new', tag: 'node' };

/** The list a resolver computes; with `dates`, `createdAt` is a Date (superjson records it in its meta). */
export function makeList(seed: number): BenchRecord[] {
  const list: BenchRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const id = seed * 20 + i;
    list.push({
      id,
      title: `Post ${id}`,
      author: { id: `user-${id % 7}`, name: `Author ${id % 7}` },
      tags: ['node', 'trpc', i % 2 === 0 ? 'redis' : 'memory'],
      score: (id * 37) % 101,
      createdAt: new Date(Date.UTC(2025, 0, 1 + i)).toISOString(),
    });
  }
  return list;
}

/** The same list with `createdAt` as a Date, the shape an ORM returns. */
export function makeDatedList(seed: number): Array<Omit<BenchRecord, 'createdAt'> & { createdAt: Date }> {
  return makeList(seed).map((record) => ({ ...record, createdAt: new Date(record.createdAt) }));
}

export const PAYLOAD_BYTES = JSON.stringify(makeList(0)).length;

/** A tRPC instance with superjson (as apps using trpc-caching do) and the caching meta. */
export function createT() {
  return initTRPC.context<BenchCtx>().meta<CachingMeta>().create({ transformer: superjson });
}

/** The authenticated base procedure every benchmarked procedure builds on. */
export function authed(t: ReturnType<typeof createT>) {
  return t.procedure.use(({ ctx, next }) => {
    if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.user } });
  });
}

/** The key a hand-written peer integration would use: user and input. */
export function peerKey(path: string, userId: string, input: unknown): string {
  return `${path}:${userId}:${JSON.stringify(input)}`;
}
