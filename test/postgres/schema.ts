import type { InvalidationTargets } from '../../src/index.js';
import type { TableMappings } from '../../src/postgres/index.js';

/** The tables of the Postgres tests, as `pg` decodes their rows. */
export interface Tables {
  posts: { id: number; owner_id: string; title: string; rev: number };
  comments: { id: number; post_id: number; body: string };
  likes: { post_id: number; user_id: string };
}

/** Creates the tables (REPLICA IDENTITY FULL, so updates and deletes carry the old row) and the publication. */
export const SCHEMA = `
  CREATE TABLE posts (id int PRIMARY KEY, owner_id text NOT NULL, title text NOT NULL, rev int NOT NULL DEFAULT 0);
  CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL, body text NOT NULL);
  CREATE TABLE likes (post_id int NOT NULL, user_id text NOT NULL, PRIMARY KEY (post_id, user_id));
  CREATE TABLE unrelated (id int PRIMARY KEY, note text);
  ALTER TABLE posts REPLICA IDENTITY FULL;
  ALTER TABLE comments REPLICA IDENTITY FULL;
  ALTER TABLE likes REPLICA IDENTITY FULL;
  CREATE PUBLICATION trpc_caching FOR TABLE posts, comments, likes, unrelated;
`;

/** The mapping the tests follow: a post's tag and its owner (old and new), a comment's post, a like's post and user. */
export const mapping: TableMappings<Tables> = {
  posts: ({ row, old }) => ({
    tags: [`post:${row.id}`],
    users: old && old.owner_id !== row.owner_id ? [row.owner_id, old.owner_id] : [row.owner_id],
  }),
  comments: ({ row }) => ({ tags: [`comments:${row.post_id}`] }),
  likes: ({ row }) => ({ tags: [`likes:${row.post_id}`], users: [row.user_id] }),
};

/** A sorted copy of targets, to compare calls whatever order the sets kept. */
export function sorted(targets: InvalidationTargets): InvalidationTargets {
  const out: Record<string, unknown> = {};
  for (const key of ['all', 'paths', 'tags', 'users'] as const) {
    const value = targets[key];
    if (value === undefined) continue;
    out[key] = Array.isArray(value) ? [...value].map(String).sort() : value;
  }
  return out as InvalidationTargets;
}
