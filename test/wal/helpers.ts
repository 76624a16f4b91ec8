// Shared by the WAL tests: temporary data directories (removed after each test) and small
// record builders.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { LogRecord, RecordInput } from '../../src/wal/actor-storage.js';

const created: string[] = [];

afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under os.tmpdir(), removed after the test. */
export function tempDir(label = 'wal'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `baton-${label}-`));
  created.push(dir);
  return dir;
}

export function text(value: string, key?: string): RecordInput {
  return { value: Buffer.from(value), ...(key === undefined ? {} : { key: Buffer.from(key) }) };
}

export async function collect(iterable: AsyncIterable<LogRecord>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const record of iterable) out.push(record);
  return out;
}

export async function values(iterable: AsyncIterable<LogRecord>): Promise<string[]> {
  return (await collect(iterable)).map((r) => (r.value === null ? '<null>' : Buffer.from(r.value).toString()));
}
