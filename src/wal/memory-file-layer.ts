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

/**
 * A file's bytes in chunks of CHUNK_BYTES, so that a growing segment is never copied into a
 * bigger buffer (a 64 MiB segment grown by doubling copied itself over and over: a tenth of the
 * storage thread's time under a queue benchmark). The first chunk starts small and doubles up
 * to CHUNK_BYTES, so that the many small files (indexes, checkpoints) stay small.
 *
 * Invariant: every allocated byte at or past `size` is zero, so a write past the end, or a
 * truncate that extends, reads back zeros in between, as a sparse file would.
 */
const CHUNK_BYTES = 1 << 20;

class MemoryFile {
  readonly #chunks: Buffer[] = [];
  size = 0;

  #chunk(index: number, neededWithin: number): Buffer {
    while (this.#chunks.length <= index) this.#chunks.push(Buffer.alloc(this.#chunks.length === 0 ? 4096 : CHUNK_BYTES));
    let chunk = this.#chunks[index]!;
    if (chunk.byteLength < neededWithin) {
      // Only the first chunk is ever smaller than CHUNK_BYTES.
      const grown = Buffer.alloc(Math.min(CHUNK_BYTES, Math.max(neededWithin, chunk.byteLength * 2)));
      grown.set(chunk);
      this.#chunks[index] = chunk = grown;
    }
    return chunk;
  }

  write(source: Uint8Array, position: number): void {
    let done = 0;
    while (done < source.byteLength) {
      const at = position + done;
      const within = at % CHUNK_BYTES;
      const n = Math.min(CHUNK_BYTES - within, source.byteLength - done);
      this.#chunk(Math.floor(at / CHUNK_BYTES), within + n).set(source.subarray(done, done + n), within);
      done += n;
    }
    this.size = Math.max(this.size, position + source.byteLength);
  }

  /** Copies bytes [position, position + length) that exist into `target[offset]`; returns how many. */
  read(target: Uint8Array, offset: number, length: number, position: number): number {
    const total = Math.max(0, Math.min(length, this.size - position));
    let done = 0;
    while (done < total) {
      const at = position + done;
      const within = at % CHUNK_BYTES;
      const chunk = this.#chunks[Math.floor(at / CHUNK_BYTES)];
      const n = Math.min(CHUNK_BYTES - within, total - done);
      if (chunk === undefined || chunk.byteLength <= within) target.fill(0, offset + done, offset + done + n);
      else {
        const available = Math.min(n, chunk.byteLength - within);
        target.set(chunk.subarray(within, within + available), offset + done);
        if (available < n) target.fill(0, offset + done + available, offset + done + n);
      }
      done += n;
    }
    return total;
  }

  truncate(length: number): void {
    if (length < this.size) {
      // Zero what is cut off (the invariant), and free chunks wholly past the new end.
      for (let at = length; at < this.size; ) {
        const within = at % CHUNK_BYTES;
        const chunk = this.#chunks[Math.floor(at / CHUNK_BYTES)];
        const n = Math.min(CHUNK_BYTES - within, this.size - at);
        chunk?.fill(0, Math.min(within, chunk.byteLength), Math.min(within + n, chunk.byteLength));
        at += n;
      }
      this.#chunks.length = Math.min(this.#chunks.length, Math.ceil(length / CHUNK_BYTES));
    }
    this.size = length;
  }

  contents(): Buffer {
    const out = Buffer.alloc(this.size);
    this.read(out, 0, this.size, 0);
    return out;
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
    this.#file.write(buf.subarray(offset, offset + length), position);
    return length;
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#check();
    return this.#file.read(buf, offset, length, position);
  }

  async datasync(): Promise<void> {
    this.#check();
  }

  async sync(): Promise<void> {
    this.#check();
  }

  async truncate(length: number): Promise<void> {
    this.#check();
    this.#file.truncate(length);
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
    return entry === undefined ? null : entry.contents();
  }
}
