/**
 * What a row's window cost besides time, for its `extra`: CPU ns per message of each thread role
 * (thread-cpu.ts: hosts, storage and supervisor named by `broker.stats()`), the main thread's GC
 * share (gc-share.ts) and, for durable rows, messages per fdatasync of the broker's log writer
 * (`stats().storage.writer.datasyncs`).
 */
import { performance } from 'node:perf_hooks';
import type { Broker } from '../src/broker/broker.js';
import { GcMeter } from './gc-share.js';
import { brokerThreadRoles, type CpuSnapshot, cpuPerMessage, snapshotThreads, type ThreadRoleStats } from './thread-cpu.js';

type Extra = Record<string, number | string | null>;

interface WriterStats extends ThreadRoleStats {
  storage?: { writer: { datasyncs: number } | null };
}

async function brokerStats(broker: Broker | undefined): Promise<WriterStats | null> {
  return broker === undefined ? null : ((await broker.stats()) as unknown as WriterStats);
}

export class RowCost {
  readonly #broker: Broker | undefined;
  readonly #durable: boolean;
  readonly #roles: Map<number, string>;
  readonly #fsyncsBefore: number | undefined;
  readonly #gc: GcMeter;
  readonly #cpuBefore: CpuSnapshot | null;

  private constructor(broker: Broker | undefined, durable: boolean, stats: WriterStats | null) {
    this.#broker = broker;
    this.#durable = durable;
    this.#roles = stats === null ? new Map() : brokerThreadRoles(stats);
    this.#fsyncsBefore = stats?.storage?.writer?.datasyncs;
    this.#gc = new GcMeter();
    this.#cpuBefore = snapshotThreads();
  }

  /** Call right before the window's first send. `broker`: the one measured (none for peers). */
  static async start(broker?: Broker, durable = false): Promise<RowCost> {
    return new RowCost(broker, durable, await brokerStats(broker));
  }

  /**
   * At the clock stop (`endedAt`): the row's cost figures. `threads` names threads the bench
   * knows (handler threads, a peer's worker) by role.
   */
  async stop(messages: number, endedAt = performance.now(), threads: ReadonlyMap<number, string> = new Map()): Promise<Extra> {
    const cpuAfter = snapshotThreads();
    const gcShareMain = await this.#gc.stop(endedAt);
    const roles = new Map([...threads, ...this.#roles]);
    const extra: Extra = { ...cpuPerMessage(this.#cpuBefore, cpuAfter, messages, roles), gcShareMain };
    if (this.#durable) {
      const fsyncsAfter = (await brokerStats(this.#broker))?.storage?.writer?.datasyncs;
      const fsyncs = fsyncsAfter === undefined || this.#fsyncsBefore === undefined ? null : fsyncsAfter - this.#fsyncsBefore;
      extra.msgsPerFdatasync = fsyncs === null || fsyncs <= 0 ? null : messages / fsyncs;
    }
    return extra;
  }
}

/** Roles for a list of bench-owned thread ids. */
export function rolesOf(tids: readonly number[], role: string): Map<number, string> {
  return new Map(tids.map((tid) => [tid, role]));
}
