// The example's database: SQLite compiled to WebAssembly (sql.js), in memory, seeded at startup.
// Its wasm ships inside the npm package, so `npm ci` is the whole install.
import initSqlJs, { type BindParams, type Database, type SqlValue } from 'sql.js';
import {
  type DatabaseOptions,
  delayOf,
  type Note,
  type NotesDb,
  type Page,
  SEED_SHARES,
  SEED_USERS,
  seedNotes,
  sleep,
  type User,
} from './notes-db.js';

export type { DatabaseOptions, Note, NotesDb, Page, User } from './notes-db.js';
export { SEED_USERS } from './notes-db.js';

const SCHEMA = `
  CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, token TEXT NOT NULL UNIQUE);
  CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id TEXT NOT NULL REFERENCES users(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE note_shares (
    note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (note_id, user_id)
  );
  CREATE INDEX note_shares_user ON note_shares(user_id);
`;

const NOTE_COLUMNS = `
  n.id, n.owner_id, u.name AS owner_name, n.title, n.body, n.published, n.updated_at,
  (SELECT group_concat(s.user_id) FROM note_shares s WHERE s.note_id = n.id) AS shared_with
`;

/** Notes a user can see: their own and those shared with them. */
const VISIBLE_TO = `(n.owner_id = $user OR EXISTS (SELECT 1 FROM note_shares s WHERE s.note_id = n.id AND s.user_id = $user))`;

function seed(db: Database): void {
  for (const user of SEED_USERS) db.run('INSERT INTO users (id, name, token) VALUES (?, ?, ?)', [user.id, user.name, user.token]);
  for (const note of seedNotes()) {
    db.run('INSERT INTO notes (owner_id, title, body, published, updated_at) VALUES (?, ?, ?, ?, ?)', [
      note.ownerId,
      note.title,
      note.body,
      note.published ? 1 : 0,
      note.updatedAt,
    ]);
  }
  for (const share of SEED_SHARES) db.run('INSERT INTO note_shares (note_id, user_id) VALUES (?, ?)', [share.noteId, share.userId]);
}

function toNote(row: Record<string, SqlValue>): Note {
  return {
    id: Number(row.id),
    ownerId: String(row.owner_id),
    ownerName: String(row.owner_name),
    title: String(row.title),
    body: String(row.body),
    published: row.published === 1,
    sharedWith: typeof row.shared_with === 'string' ? row.shared_with.split(',').sort() : [],
    updatedAt: String(row.updated_at),
  };
}

/** The embedded database: sql.js in memory. */
class SqlJsNotesDb implements NotesDb {
  readonly queries: Record<string, number> = {};

  constructor(
    private readonly db: Database,
    readonly delayMs: number,
  ) {}

  private async slow(name: string): Promise<void> {
    this.queries[name] = (this.queries[name] ?? 0) + 1;
    if (this.delayMs > 0) await sleep(this.delayMs);
  }

  private all(sql: string, params: BindParams): Record<string, SqlValue>[] {
    const statement = this.db.prepare(sql, params);
    try {
      const rows: Record<string, SqlValue>[] = [];
      while (statement.step()) rows.push(statement.getAsObject());
      return rows;
    } finally {
      statement.free();
    }
  }

  private one(sql: string, params: BindParams): Record<string, SqlValue> | undefined {
    return this.all(sql, params)[0];
  }

  private count(sql: string, params: BindParams): number {
    return Number(this.one(sql, params)?.n ?? 0);
  }

  async userByToken(token: string): Promise<User | undefined> {
    const row = this.one('SELECT id, name, token FROM users WHERE token = $token', { $token: token });
    return row && { id: String(row.id), name: String(row.name), token: String(row.token) };
  }

  async user(id: string): Promise<User | undefined> {
    await this.slow('user');
    return this.readUser(id);
  }

  async renameUser(id: string, name: string): Promise<User | undefined> {
    await this.slow('renameUser');
    this.db.run('UPDATE users SET name = $name WHERE id = $id', { $id: id, $name: name });
    return this.readUser(id);
  }

  private readUser(id: string): User | undefined {
    const row = this.one('SELECT id, name, token FROM users WHERE id = $id', { $id: id });
    return row && { id: String(row.id), name: String(row.name), token: String(row.token) };
  }

  async listNotes(userId: string, page: number, pageSize: number): Promise<Page<Note>> {
    await this.slow('listNotes');
    const params = { $user: userId };
    const total = this.count(`SELECT count(*) AS n FROM notes n WHERE ${VISIBLE_TO}`, params);
    const rows = this.all(
      `SELECT ${NOTE_COLUMNS} FROM notes n JOIN users u ON u.id = n.owner_id WHERE ${VISIBLE_TO}
       ORDER BY n.updated_at DESC, n.id DESC LIMIT $limit OFFSET $offset`,
      { ...params, $limit: pageSize, $offset: (page - 1) * pageSize },
    );
    return { items: rows.map(toNote), page, pageSize, total };
  }

  async noteFor(userId: string, id: number): Promise<Note | undefined> {
    await this.slow('noteFor');
    const row = this.one(`SELECT ${NOTE_COLUMNS} FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.id = $id AND ${VISIBLE_TO}`, {
      $id: id,
      $user: userId,
    });
    return row && toNote(row);
  }

  async feed(page: number, pageSize: number): Promise<Page<Note>> {
    await this.slow('feed');
    const total = this.count('SELECT count(*) AS n FROM notes WHERE published = 1', null);
    const rows = this.all(
      `SELECT ${NOTE_COLUMNS} FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.published = 1
       ORDER BY n.updated_at DESC, n.id DESC LIMIT $limit OFFSET $offset`,
      { $limit: pageSize, $offset: (page - 1) * pageSize },
    );
    return { items: rows.map(toNote), page, pageSize, total };
  }

  async createNote(ownerId: string, fields: { title: string; body: string; published: boolean }): Promise<Note> {
    await this.slow('createNote');
    this.db.run('INSERT INTO notes (owner_id, title, body, published, updated_at) VALUES ($owner, $title, $body, $published, $at)', {
      $owner: ownerId,
      $title: fields.title,
      $body: fields.body,
      $published: fields.published ? 1 : 0,
      $at: new Date().toISOString(),
    });
    const id = Number(this.one('SELECT last_insert_rowid() AS id', null)?.id);
    return this.read(id);
  }

  async updateNote(
    userId: string,
    id: number,
    fields: { title?: string | undefined; body?: string | undefined; published?: boolean | undefined },
  ): Promise<Note | undefined> {
    await this.slow('updateNote');
    if (this.count(`SELECT count(*) AS n FROM notes n WHERE n.id = $id AND ${VISIBLE_TO}`, { $id: id, $user: userId }) === 0) {
      return undefined;
    }
    this.db.run(
      `UPDATE notes SET title = coalesce($title, title), body = coalesce($body, body),
       published = coalesce($published, published), updated_at = $at WHERE id = $id`,
      {
        $id: id,
        $title: fields.title ?? null,
        $body: fields.body ?? null,
        $published: fields.published === undefined ? null : fields.published ? 1 : 0,
        $at: new Date().toISOString(),
      },
    );
    return this.read(id);
  }

  async deleteNote(ownerId: string, id: number): Promise<Note | undefined> {
    await this.slow('deleteNote');
    const note = this.readIfOwner(ownerId, id);
    if (note === undefined) return undefined;
    this.db.run('DELETE FROM note_shares WHERE note_id = $id', { $id: id });
    this.db.run('DELETE FROM notes WHERE id = $id', { $id: id });
    return note;
  }

  async setShared(ownerId: string, id: number, userId: string, shared: boolean): Promise<Note | undefined> {
    await this.slow('setShared');
    if (this.readIfOwner(ownerId, id) === undefined) return undefined;
    if (shared) this.db.run('INSERT OR IGNORE INTO note_shares (note_id, user_id) VALUES ($id, $user)', { $id: id, $user: userId });
    else this.db.run('DELETE FROM note_shares WHERE note_id = $id AND user_id = $user', { $id: id, $user: userId });
    return this.read(id);
  }

  async userExists(id: string): Promise<boolean> {
    return this.count('SELECT count(*) AS n FROM users WHERE id = $id', { $id: id }) === 1;
  }

  private readIfOwner(ownerId: string, id: number): Note | undefined {
    const row = this.one(`SELECT ${NOTE_COLUMNS} FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.id = $id AND n.owner_id = $owner`, {
      $id: id,
      $owner: ownerId,
    });
    return row && toNote(row);
  }

  private read(id: number): Note {
    const row = this.one(`SELECT ${NOTE_COLUMNS} FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.id = $id`, { $id: id });
    if (row === undefined) throw new Error(`note ${id} vanished`);
    return toNote(row);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** Opens a fresh in-memory SQLite database with the schema and seed data. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<NotesDb> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run('PRAGMA foreign_keys = ON');
  db.exec(SCHEMA);
  seed(db);
  return new SqlJsNotesDb(db, delayOf(options));
}
