/**
 * A `FileLayer` that fails on command: it wraps a real layer and makes chosen calls throw
 * EIO or ENOSPC, the way a dying disk or a full one does. Tests use it to prove that a write or
 * fsync error is fatal for the writer and that nothing after it is confirmed.
 *
 * A rule matches an operation (and optionally a path fragment), lets `skip` matching calls
 * through, then fails `times` calls (default: every later one, as a failed disk keeps failing).
 * A failing write with `partial: true` writes the first half of its bytes before throwing, as
 * a write cut short by a full disk does.
 */
import type { FileLayer, OpenMode, WalFile } from './file-layer.js';

export type FaultOperation = 'open' | 'write' | 'read' | 'datasync' | 'sync' | 'truncate' | 'rename' | 'syncDir' | 'remove';

export interface FaultRule {
  op: FaultOperation;
  code: 'EIO' | 'ENOSPC';
  pathIncludes?: string;
  skip?: number;
  times?: number;
  partial?: boolean;
}

function fsError(code: string, op: string, file: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${op} '${file}'`), { code, syscall: op, path: file });
}

export class FaultyFileLayer implements FileLayer {
  readonly #inner: FileLayer;
  readonly #rules: Array<FaultRule & { seen: number; failed: number }> = [];
  /** Calls per operation, for assertions such as "one fdatasync per round". */
  readonly calls = new Map<FaultOperation, number>();

  constructor(inner: FileLayer) {
    this.#inner = inner;
  }

  inject(rule: FaultRule): void {
    this.#rules.push({ ...rule, seen: 0, failed: 0 });
  }

  clear(): void {
    this.#rules.length = 0;
  }

  /** Throws if a rule says this call fails; `partial` tells a write to go halfway first. */
  check(op: FaultOperation, file: string): FaultRule | null {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    for (const rule of this.#rules) {
      if (rule.op !== op || (rule.pathIncludes !== undefined && !file.includes(rule.pathIncludes))) continue;
      rule.seen += 1;
      if (rule.seen <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && rule.failed >= rule.times) continue;
      rule.failed += 1;
      return rule;
    }
    return null;
  }

  async open(path: string, mode: OpenMode): Promise<WalFile> {
    const rule = this.check('open', path);
    if (rule) throw fsError(rule.code, 'open', path);
    return new FaultyWalFile(this, await this.#inner.open(path, mode));
  }

  mkdir(path: string): Promise<void> {
    return this.#inner.mkdir(path);
  }

  readdir(path: string): Promise<string[]> {
    return this.#inner.readdir(path);
  }

  async remove(path: string): Promise<void> {
    const rule = this.check('remove', path);
    if (rule) throw fsError(rule.code, 'unlink', path);
    return this.#inner.remove(path);
  }

  async rename(from: string, to: string): Promise<void> {
    const rule = this.check('rename', to);
    if (rule) throw fsError(rule.code, 'rename', to);
    return this.#inner.rename(from, to);
  }

  async syncDir(path: string): Promise<void> {
    const rule = this.check('syncDir', path);
    if (rule) throw fsError(rule.code, 'fsync', path);
    return this.#inner.syncDir(path);
  }

  readFile(path: string): Promise<Uint8Array | null> {
    return this.#inner.readFile(path);
  }
}

class FaultyWalFile implements WalFile {
  readonly #layer: FaultyFileLayer;
  readonly #inner: WalFile;

  constructor(layer: FaultyFileLayer, inner: WalFile) {
    this.#layer = layer;
    this.#inner = inner;
  }

  get path(): string {
    return this.#inner.path;
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const rule = this.#layer.check('write', this.path);
    if (rule) {
      if (rule.partial && length > 1) await this.#inner.write(buf, offset, length >> 1, position);
      throw fsError(rule.code, 'write', this.path);
    }
    return this.#inner.write(buf, offset, length, position);
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const rule = this.#layer.check('read', this.path);
    if (rule) throw fsError(rule.code, 'read', this.path);
    return this.#inner.read(buf, offset, length, position);
  }

  async datasync(): Promise<void> {
    const rule = this.#layer.check('datasync', this.path);
    if (rule) throw fsError(rule.code, 'fdatasync', this.path);
    return this.#inner.datasync();
  }

  async sync(): Promise<void> {
    const rule = this.#layer.check('sync', this.path);
    if (rule) throw fsError(rule.code, 'fsync', this.path);
    return this.#inner.sync();
  }

  async truncate(length: number): Promise<void> {
    const rule = this.#layer.check('truncate', this.path);
    if (rule) throw fsError(rule.code, 'ftruncate', this.path);
    return this.#inner.truncate(length);
  }

  size(): Promise<number> {
    return this.#inner.size();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
