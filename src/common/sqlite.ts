import { DatabaseSync } from 'node:sqlite';

/**
 * Opens an embedded SQLite database with the durability custos relies on: WAL with
 * synchronous=FULL, so a committed transaction (a burned nonce, a stored share) survives a crash
 * or power loss before anything computed from it leaves the process.
 */
export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  return db;
}

/** Runs `fn` in one IMMEDIATE transaction; rolls back on any throw. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (e) {
    db.exec('ROLLBACK');
    throw e;
  }
}

/** Base of the node's and the coordinator's stores: one database, its schema, transactions. */
export class SqliteStore {
  readonly db: DatabaseSync;
  #open = true;
  constructor(path: string, schema: string) {
    this.db = openDatabase(path);
    this.db.exec(schema);
  }
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.db.close();
  }
  tx<T>(fn: () => T): T { return transaction(this.db, fn); }
}
