/**
 * Peer of the durable rows: a queue in SQLite (better-sqlite3 12, one thread), as an embedded app
 * would keep one — a table (id INTEGER PRIMARY KEY, body BLOB), WAL journal mode,
 * `synchronous=FULL` (each commit is fsynced), one transaction per batch sent (the confirm), and
 * a consumer that selects a batch in id order, decodes and checks each body, and deletes the
 * batch in the same transaction (the ack). better-sqlite3 is synchronous, so producers and
 * consumer take turns on the event loop: IN_FLIGHT producers, each yielding after its insert, and
 * one consumer loop. The clock stops when the last message's delete is committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BATCH, IN_FLIGHT, type LoadLimits, produceBatches, sum } from '../batch-driver.js';
import { type BodyShape, makeBatch } from '../bodies.js';
import type { RunResult } from '../rounds.js';
import { RowCost } from '../row-cost.js';
import { SequenceCheck, STALL_MS } from '../sequence-check.js';
import { optionalImport, type Optional } from './optional-import.js';

/** The part of better-sqlite3's API used here (it ships no types; @types/better-sqlite3 is not a dependency). */
interface Statement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): Array<{ id: number; body: Uint8Array }>;
}
interface Database {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): Statement;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}
type DatabaseClass = new (file: string) => Database;

let loaded: Promise<Optional<{ default: DatabaseClass }>> | undefined;

/** Null when better-sqlite3 loads and opens a database here, else why not. */
export async function sqliteSkipped(): Promise<string | null> {
  const result = await (loaded ??= optionalImport('better-sqlite3'));
  if (result.skipped !== undefined) return result.skipped;
  try {
    new result.module.default(':memory:').close();
    return null;
  } catch (error) {
    return `better-sqlite3 did not open a database: ${(error as Error).message}`;
  }
}

const yieldTurn = () => new Promise((resolve) => setImmediate(resolve));

export async function measureSqliteQueue(shape: BodyShape, limits: LoadLimits): Promise<RunResult> {
  const Database = (await (loaded ??= optionalImport('better-sqlite3'))).module!.default;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-sqlite-'));
  const db = new Database(path.join(dir, 'queue.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE q (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO q (body) VALUES (?)');
    const select = db.prepare('SELECT id, body FROM q ORDER BY id LIMIT ?');
    const remove = db.prepare('DELETE FROM q WHERE id <= ?');
    const check = new SequenceCheck(`SQLite queue ${shape.codec} ${shape.size} B`, IN_FLIGHT);
    const insertBatch = db.transaction((bodies: Buffer[]) => {
      for (const body of bodies) insert.run(body);
    });
    const consumeBatch = db.transaction((): number => {
      const rows = select.all(BATCH);
      for (const row of rows) {
        const bytes = row.body;
        check.handleBody(shape.codec === 'json' ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : bytes, shape.size);
      }
      if (rows.length > 0) remove.run(rows.at(-1)!.id);
      return rows.length;
    });
    const send = async (p: number, first: number, count: number) => {
      const bodies = makeBatch(shape, p, first, count).map((body) => (shape.codec === 'json' ? Buffer.from(JSON.stringify(body)) : Buffer.from((body as Uint8Array).buffer, (body as Uint8Array).byteOffset, shape.size)));
      insertBatch(bodies);
      await yieldTurn();
    };
    let total = Number.POSITIVE_INFINITY;
    const consumer = async () => {
      let progressAt = performance.now();
      while (check.handled < total) {
        if (consumeBatch() > 0) progressAt = performance.now();
        else if (performance.now() - progressAt > STALL_MS) check.fail(`stalled: ${check.handled} of ${total} messages handled`);
        await yieldTurn();
      }
      return performance.now();
    };
    const cost = await RowCost.start();
    const startedAt = performance.now();
    const consumed = consumer();
    consumed.catch(() => undefined); // awaited below, after the producers
    const sent = await produceBatches(limits, send);
    const messages = sum(sent);
    total = messages;
    const endedAt = await consumed;
    const extra = await cost.stop(messages, endedAt);
    check.verify(sent);
    return { messages, seconds: (endedAt - startedAt) / 1000, extra };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
