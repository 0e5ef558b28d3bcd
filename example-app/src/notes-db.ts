// What the app's database layer is, whichever database is behind it: its types, the interface the resolvers call,
// and the seed data. Two implementations: sql.js in memory (db.ts, the default) and PostgreSQL (db-postgres.ts).

/** A user of the API; `token` is the bearer token that authenticates them. */
export interface User {
  id: string;
  name: string;
  token: string;
}

/** A note: owned by one user, shared with other users (who may read and edit it), published to the feed or not. */
export interface Note {
  id: number;
  ownerId: string;
  ownerName: string;
  title: string;
  body: string;
  published: boolean;
  /** Users the owner shared the note with. */
  sharedWith: string[];
  updatedAt: string;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

/** Options of either database. */
export interface DatabaseOptions {
  /**
   * Delay added to every data query, in ms, so that a cache hit is visibly
   * faster than a miss. Default: `DB_DELAY_MS` from the environment, else 50.
   */
  delayMs?: number;
}

/**
 * The queries of the app. Asynchronous, so that a database across the network fits behind them as well as one in
 * memory. Data queries wait `delayMs` first, as a remote database would.
 */
export interface NotesDb {
  /** Data queries run so far, by name: lets the tests and the demo see when a resolver really ran. */
  readonly queries: Record<string, number>;
  /** The user a bearer token belongs to. Not slowed: it runs on every request, hit or miss, as a session lookup would. */
  userByToken(token: string): Promise<User | undefined>;
  user(id: string): Promise<User | undefined>;
  renameUser(id: string, name: string): Promise<User | undefined>;
  /** Notes `userId` owns or that are shared with them, most recently updated first. */
  listNotes(userId: string, page: number, pageSize: number): Promise<Page<Note>>;
  /** A note, when `userId` may see it. */
  noteFor(userId: string, id: number): Promise<Note | undefined>;
  /** Published notes of every user, most recently updated first. */
  feed(page: number, pageSize: number): Promise<Page<Note>>;
  createNote(ownerId: string, fields: { title: string; body: string; published: boolean }): Promise<Note>;
  /** Updates the given fields of a note `userId` may see (its owner or a user it is shared with). */
  updateNote(
    userId: string,
    id: number,
    fields: { title?: string | undefined; body?: string | undefined; published?: boolean | undefined },
  ): Promise<Note | undefined>;
  /** Deletes a note of `ownerId`; returns it as it was, with who it was shared with. */
  deleteNote(ownerId: string, id: number): Promise<Note | undefined>;
  /** Shares a note of `ownerId` with another user, or stops sharing it. */
  setShared(ownerId: string, id: number, userId: string, shared: boolean): Promise<Note | undefined>;
  userExists(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Seed users and their tokens (documented in example-app/README.md). */
export const SEED_USERS: readonly User[] = [
  { id: 'alice', name: 'Alice', token: 'alice-token' },
  { id: 'bob', name: 'Bob', token: 'bob-token' },
  { id: 'carol', name: 'Carol', token: 'carol-token' },
];

/** A seed note, in insertion order: the n-th one gets id n. */
export interface SeedNote {
  ownerId: string;
  title: string;
  body: string;
  published: boolean;
  updatedAt: string;
}

// A fixed clock for seed rows, so that the demo's output does not change from run to run.
const SEED_TIME = Date.parse('2026-01-01T09:00:00.000Z');

/** Enough notes to page through: alice 24 (ids 1-24), bob 12 (25-36), carol 6 (37-42); every third one published. */
export function seedNotes(): SeedNote[] {
  const counts: Record<string, number> = { alice: 24, bob: 12, carol: 6 };
  const notes: SeedNote[] = [];
  for (const [ownerId, count] of Object.entries(counts)) {
    for (let i = 1; i <= count; i++) {
      notes.push({
        ownerId,
        title: `${ownerId}'s note ${i}`,
        body: `Body of ${ownerId}'s note ${i}.`,
        published: i % 3 === 0,
        updatedAt: new Date(SEED_TIME + (notes.length + 1) * 60_000).toISOString(),
      });
    }
  }
  return notes;
}

/** Notes shared between two participants: alice's first note with bob, bob's first note with carol. */
export const SEED_SHARES: readonly { noteId: number; userId: string }[] = [
  { noteId: 1, userId: 'bob' },
  { noteId: 25, userId: 'carol' },
];

/** The delay of data queries: the option, else `DB_DELAY_MS` from the environment, else 50 ms. */
export function delayOf(options: DatabaseOptions): number {
  const fromEnv = process.env.DB_DELAY_MS === undefined ? undefined : Number(process.env.DB_DELAY_MS);
  return options.delayMs ?? (fromEnv !== undefined && Number.isFinite(fromEnv) && fromEnv >= 0 ? fromEnv : 50);
}

/** Waits `ms`: the delay of a data query. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
