/**
 * The options of a broker and of the runtime under it, declared once and validated once, on the
 * caller's thread, so a bad value fails `Broker.start` with BATON_INVALID_ARGUMENT naming it. The
 * resolved form (every field present, defaults in) is what the supervisor thread is started with;
 * the storage thread's part is derived from it (`storageWorkerData`).
 */
import os from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { ARENA_BYTES_LIMIT, ARENA_GROW_BYTES } from '../log/arena.js';
import { COMPACTION_INTERVAL_MS_DEFAULT, type StorageWorkerData } from '../storage/storage-service.js';
import { resolveWalOptions } from '../wal/wal.js';
import type { PlacementStrategy } from './placement.js';
import type { SupervisorPolicyOptions } from './supervision.js';

/**
 * Each actor host's heap, in MiB, unless `hostHeapMb` says otherwise: a host holds actors'
 * metadata only (a durable queue at its default 100,000 batches known: ~38 MiB), so a bug or an
 * unbounded memory-only queue costs a host restart, not the whole process.
 */
export const HOST_HEAP_MB_DEFAULT = 1024;
export const STALL_TIMEOUT_MS_DEFAULT = 2000;
export const INBOX_BYTES_DEFAULT = 4 * 1024 * 1024;

export interface RuntimeOptions {
  /** Durable storage; omitted: memory only, nothing survives a restart. */
  dataDir?: string;
  /** Actor-host threads, 1 .. 256; default os.availableParallelism(). */
  workers?: number;
  /** With a dataDir: 'always' (default) confirms appends after the covering fdatasync. */
  fsync?: 'always' | 'interval' | 'never';
  fsyncIntervalMs?: number;
  /**
   * Time between the storage thread's maintenance passes: retention, reclaim, compaction of
   * `compact` topics, segment merges. 0: none (with a dataDir, retention still runs every 5
   * minutes). Integer 0 .. 2^31-1; default 30000.
   */
  compactionIntervalMs?: number;
  /** Log segment size, 4096 .. 2^32-1: only sealed segments are compacted, reclaimed or deleted. Default 64 MiB. */
  segmentBytesMax?: number;
  /**
   * Message memory (the arena, src/log/arena.ts): the most bytes queued and topic messages may
   * take in memory, a multiple of 64 MiB up to 4 GiB. A memory-only queue past it refuses
   * publishes (BATON_QUEUE_FULL); durable queues keep bodies on disk instead (`memoryBytes`).
   * Default: half the machine's memory, at most 4 GiB.
   */
  memoryLimitBytes?: number;
  /**
   * Heap limit of each actor-host thread, in MiB (at least 16). A host past it dies with
   * ERR_WORKER_OUT_OF_MEMORY and the supervisor restarts its actors on a new one. Queues keep
   * their metadata within it (`memoryBatches`); message bodies live in the arena, outside it.
   * Default HOST_HEAP_MB_DEFAULT (1024).
   */
  hostHeapMb?: number;
  /** Restart policy. `backoffMs: [min, max]` is short for `backoff: { minMs, maxMs }`. */
  supervisor?: SupervisorPolicyOptions & { backoffMs?: [min: number, max: number] };
  /** Where actors go: 'hash' of the id (default, stable across restarts) or 'least-loaded'. */
  placement?: PlacementStrategy;
  /** A host busy with a frozen heartbeat this long (ms, at least 50) is stalled and replaced. Default 2000. */
  stallTimeoutMs?: number;
  /** Inbox ring of each host, in bytes (a power of two). Default 4 MiB. */
  inboxBytes?: number;
  /** For resilience tests: `storageFaults: true` (with a dataDir) lets `faults.failStorage` make the disk fail. */
  testing?: { storageFaults?: boolean };
}

/** The options as the threads get them: validated, every default filled in. */
export interface ResolvedRuntimeOptions {
  dataDir: string | undefined;
  workers: number;
  fsync: 'always' | 'interval' | 'never';
  fsyncIntervalMs: number;
  compactionIntervalMs: number;
  segmentBytesMax: number;
  memoryLimitBytes: number;
  hostHeapMb: number;
  supervisor: SupervisorPolicyOptions;
  placement: PlacementStrategy;
  stallTimeoutMs: number;
  inboxBytes: number;
  storageFaults: boolean;
}

const KEYS: ReadonlySet<string> = new Set([
  'dataDir',
  'workers',
  'fsync',
  'fsyncIntervalMs',
  'compactionIntervalMs',
  'segmentBytesMax',
  'memoryLimitBytes',
  'hostHeapMb',
  'supervisor',
  'placement',
  'stallTimeoutMs',
  'inboxBytes',
  'testing',
]);

/** Half the machine's memory in whole 64 MiB steps, between 64 MiB and 4 GiB. */
export function defaultMemoryLimitBytes(): number {
  const steps = Math.floor(os.totalmem() / 2 / ARENA_GROW_BYTES);
  return Math.min(ARENA_BYTES_LIMIT, Math.max(1, steps) * ARENA_GROW_BYTES);
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer ${min} .. ${max}, got ${String(value)}`);
  }
  return value;
}

export function resolveRuntimeOptions(options: RuntimeOptions = {}): ResolvedRuntimeOptions {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('broker options must be an object');
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new InvalidArgumentError(`unknown broker option ${JSON.stringify(key)}; the options are ${[...KEYS].join(', ')}`);
  }
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
    throw new InvalidArgumentError(`dataDir must be a directory path, got ${JSON.stringify(options.dataDir)}`);
  }
  const wal = resolveWalOptions({
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    ...(options.fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: options.fsyncIntervalMs }),
    ...(options.segmentBytesMax === undefined ? {} : { segmentBytesMax: options.segmentBytesMax }),
  });
  const { backoffMs, ...policy } = options.supervisor ?? {};
  if (backoffMs !== undefined) {
    if (!Array.isArray(backoffMs) || backoffMs.length !== 2) throw new InvalidArgumentError('supervisor.backoffMs must be [minMs, maxMs]');
    policy.backoff = { ...policy.backoff, minMs: backoffMs[0], maxMs: backoffMs[1] };
  }
  const placement = options.placement ?? 'hash';
  if (placement !== 'hash' && placement !== 'least-loaded') throw new InvalidArgumentError(`placement must be 'hash' or 'least-loaded', got ${JSON.stringify(placement)}`);
  const memoryLimitBytes = integer('memoryLimitBytes', options.memoryLimitBytes, ARENA_GROW_BYTES, ARENA_BYTES_LIMIT, defaultMemoryLimitBytes());
  if (memoryLimitBytes % ARENA_GROW_BYTES !== 0) throw new InvalidArgumentError(`memoryLimitBytes must be a multiple of 64 MiB (${ARENA_GROW_BYTES}), got ${memoryLimitBytes}`);
  return {
    dataDir: options.dataDir,
    workers: integer('workers', options.workers, 1, 256, os.availableParallelism()),
    fsync: wal.fsync,
    fsyncIntervalMs: wal.fsyncIntervalMs,
    segmentBytesMax: wal.segmentBytesMax,
    compactionIntervalMs: integer('compactionIntervalMs', options.compactionIntervalMs, 0, 0x7fff_ffff, COMPACTION_INTERVAL_MS_DEFAULT),
    memoryLimitBytes,
    hostHeapMb: integer('hostHeapMb', options.hostHeapMb, 16, 1 << 20, HOST_HEAP_MB_DEFAULT),
    supervisor: policy,
    placement,
    stallTimeoutMs: integer('stallTimeoutMs', options.stallTimeoutMs, 50, 0x7fff_ffff, STALL_TIMEOUT_MS_DEFAULT),
    inboxBytes: integer('inboxBytes', options.inboxBytes, 4096, 1 << 30, INBOX_BYTES_DEFAULT),
    storageFaults: options.testing?.storageFaults === true,
  };
}

/** What the storage thread is started with. */
export function storageWorkerData(options: ResolvedRuntimeOptions): StorageWorkerData {
  return {
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    wal: { fsync: options.fsync, fsyncIntervalMs: options.fsyncIntervalMs, segmentBytesMax: options.segmentBytesMax },
    compactionIntervalMs: options.compactionIntervalMs,
    faultInjection: options.storageFaults,
  };
}
