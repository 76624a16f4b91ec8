/**
 * The file-system seam of the WAL. Everything the log does to disk goes through a `FileLayer`,
 * so that tests (and users' resilience tests) can swap in `FaultyFileLayer` to make a write or
 * an fsync fail with EIO or ENOSPC, and memory-only mode can swap in `MemoryFileLayer` and keep
 * the very same code path.
 *
 * The Node implementation uses the callback `fs` API on raw descriptors: one libuv request per
 * call and no `FileHandle` bookkeeping. Calls are asynchronous so that appends keep arriving on
 * the event loop while a write or an fdatasync runs on the thread pool: that is what lets group
 * commit gather them.
 */
import fs from 'node:fs';

/** Permissions: the log is the user's data, readable by its owner only. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export interface WalFile {
  readonly path: string;
  /** Writes `length` bytes of `buf` from `offset` at file `position`; resolves bytes written. */
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Reads up to `length` bytes at `position`; resolves bytes read (0 at end of file). */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `read`: an existing file, read-only. `read-write`: read and write, created (0600) if missing.
 * `create-new`: created (0600), failing with EEXIST if it exists (O_EXCL).
 */
export type OpenMode = 'read' | 'read-write' | 'create-new';

export interface FileLayer {
  open(path: string, mode: OpenMode): Promise<WalFile>;
  /** Creates the directory and missing parents with mode 0700; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** Entry names; an empty list when the directory does not exist. */
  readdir(path: string): Promise<string[]>;
  /** Removes a file; no error when it does not exist. */
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync of a directory, so that created, renamed and removed entries are durable. */
  syncDir(path: string): Promise<void>;
  /** The whole file, or null when it does not exist. */
  readFile(path: string): Promise<Uint8Array | null>;
}

function promisify<T>(run: (done: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    run((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}

class NodeWalFile implements WalFile {
  readonly path: string;
  readonly #fd: number;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return promisify<number>((done) => fs.write(this.#fd, buf, offset, length, position, (error, written) => done(error, written)));
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return promisify<number>((done) => fs.read(this.#fd, buf, offset, length, position, (error, bytesRead) => done(error, bytesRead)));
  }

  datasync(): Promise<void> {
    return promisify<void>((done) => fs.fdatasync(this.#fd, (error) => done(error)));
  }

  sync(): Promise<void> {
    return promisify<void>((done) => fs.fsync(this.#fd, (error) => done(error)));
  }

  truncate(length: number): Promise<void> {
    return promisify<void>((done) => fs.ftruncate(this.#fd, length, (error) => done(error)));
  }

  size(): Promise<number> {
    return promisify<number>((done) => fs.fstat(this.#fd, (error, stats) => done(error, stats?.size)));
  }

  close(): Promise<void> {
    return promisify<void>((done) => fs.close(this.#fd, (error) => done(error)));
  }
}

const openFlags: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  'read-write': fs.constants.O_RDWR | fs.constants.O_CREAT,
  'create-new': fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
};

export class NodeFileLayer implements FileLayer {
  async open(path: string, mode: OpenMode): Promise<WalFile> {
    const fd = await promisify<number>((done) => fs.open(path, openFlags[mode], FILE_MODE, (error, fd) => done(error, fd)));
    return new NodeWalFile(path, fd);
  }

  async mkdir(path: string): Promise<void> {
    await fs.promises.mkdir(path, { recursive: true, mode: DIR_MODE });
  }

  async readdir(path: string): Promise<string[]> {
    try {
      return await fs.promises.readdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async remove(path: string): Promise<void> {
    await fs.promises.rm(path, { force: true });
  }

  async rename(from: string, to: string): Promise<void> {
    await fs.promises.rename(from, to);
  }

  async syncDir(path: string): Promise<void> {
    const fd = await promisify<number>((done) => fs.open(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (error, fd) => done(error, fd)));
    try {
      await promisify<void>((done) => fs.fsync(fd, (error) => done(error)));
    } finally {
      await promisify<void>((done) => fs.close(fd, (error) => done(error)));
    }
  }

  async readFile(path: string): Promise<Uint8Array | null> {
    try {
      return await fs.promises.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }
}
