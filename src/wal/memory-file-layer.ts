/**
 * A `FileLayer` whose files live in this process's memory: the storage of memory-only mode.
 *
 * The WAL runs unchanged on it (encoding, CRCs, segments, acknowledgements, retention,
 * compaction), so memory-only brokers exercise the same code as durable ones. Syncs do nothing
 * and everything is gone when the process exits: it promises nothing across a restart.
 */
import path from 'node:path';
import type { FileLayer, OpenMode, WalFile } from './file-layer.js';

function enoent(syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${file}'`), { code: 'ENOENT', syscall, path: file });
}

class MemoryFile {
  data: Buffer = Buffer.alloc(0);
  size = 0;

  ensure(capacity: number): void {
    if (capacity <= this.data.byteLength) return;
    const grown = Buffer.alloc(Math.max(capacity, this.data.byteLength * 2, 4096));
    this.data.copy(grown, 0, 0, this.size);
    this.data = grown;
  }
}

class MemoryWalFile implements WalFile {
  readonly path: string;
  readonly #file: MemoryFile;
  #closed = false;

  constructor(path: string, file: MemoryFile) {
    this.path = path;
    this.#file = file;
  }

  #check(): void {
    if (this.#closed) throw Object.assign(new Error('EBADF: file closed'), { code: 'EBADF' });
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#check();
    const file = this.#file;
    file.ensure(position + length);
    if (position > file.size) file.data.fill(0, file.size, position);
    file.data.set(buf.subarray(offset, offset + length), position);
    file.size = Math.max(file.size, position + length);
    return length;
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#check();
    const file = this.#file;
    const n = Math.max(0, Math.min(length, file.size - position));
    buf.set(file.data.subarray(position, position + n), offset);
    return n;
  }

  async datasync(): Promise<void> {
    this.#check();
  }

  async sync(): Promise<void> {
    this.#check();
  }

  async truncate(length: number): Promise<void> {
    this.#check();
    const file = this.#file;
    file.ensure(length);
    if (length > file.size) file.data.fill(0, file.size, length);
    file.size = length;
  }

  async size(): Promise<number> {
    this.#check();
    return this.#file.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export class MemoryFileLayer implements FileLayer {
  readonly #files = new Map<string, MemoryFile>();
  readonly #dirs = new Set<string>();

  async open(file: string, mode: OpenMode): Promise<WalFile> {
    const key = path.resolve(file);
    let entry = this.#files.get(key);
    if (mode === 'create-new' && entry !== undefined) {
      throw Object.assign(new Error(`EEXIST: file already exists, open '${file}'`), { code: 'EEXIST' });
    }
    if (entry === undefined) {
      if (mode === 'read') throw enoent('open', file);
      if (!this.#dirs.has(path.dirname(key))) throw enoent('open', file);
      entry = new MemoryFile();
      this.#files.set(key, entry);
    }
    return new MemoryWalFile(file, entry);
  }

  async mkdir(dir: string): Promise<void> {
    let current = path.resolve(dir);
    while (!this.#dirs.has(current)) {
      this.#dirs.add(current);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }

  async readdir(dir: string): Promise<string[]> {
    const key = path.resolve(dir);
    const names: string[] = [];
    for (const file of this.#files.keys()) if (path.dirname(file) === key) names.push(path.basename(file));
    for (const sub of this.#dirs) if (path.dirname(sub) === key && sub !== key) names.push(path.basename(sub));
    return names;
  }

  async remove(file: string): Promise<void> {
    this.#files.delete(path.resolve(file));
  }

  async rename(from: string, to: string): Promise<void> {
    const entry = this.#files.get(path.resolve(from));
    if (entry === undefined) throw enoent('rename', from);
    this.#files.delete(path.resolve(from));
    this.#files.set(path.resolve(to), entry);
  }

  async syncDir(): Promise<void> {}

  async readFile(file: string): Promise<Uint8Array | null> {
    const entry = this.#files.get(path.resolve(file));
    return entry === undefined ? null : Buffer.from(entry.data.subarray(0, entry.size));
  }
}
