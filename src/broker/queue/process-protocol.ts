/**
 * The conversation between `queue.process` (the consumer, on the broker's thread) and each of
 * its handler threads, through two single-producer rings per thread. Messages are not in it:
 * they lie in the arena, which the handler thread reads in place.
 *
 * ```
 * WORK (broker thread -> handler thread)   the queue actor's GRANT entries, as it sent them
 *   [u32 entries][u32 0] entries x [u32 grant][u32 batch][u32 index][u32 count][u32 record][u32 deliveries][f64 baseOffset]
 * DONE (handler thread -> broker thread)   what the thread settled, as SETTLE entries (consumer 0)
 *   [u32 0][u32 entries] entries x [u32 grant][u32 from][u32 count][u32 kind][f64 delayMs]
 * ```
 * The layouts are the queue protocol's GRANT and SETTLE (queue-protocol.ts owns them): a handler
 * thread is a consumer that happens to live on another thread, and its settles go on to the
 * actor with the consumer's id put back.
 */
export { grantBytes as workBytes, readGrant as readWork, writeGrant as writeWork } from './queue-protocol.js';
export { SettleReader as DoneReader, settleBytes as doneBytes, writeSettle as writeDone } from './queue-protocol.js';

export const ProcessRecord = Object.freeze({
  WORK: 1,
  DONE: 2,
});

/** What a handler thread is started with. */
export interface HandlerThreadData {
  /** URL of the user's module: its default export handles one message. */
  handler: string;
  codec: 'json' | 'msgpack' | 'raw';
  /** Handler calls at once on the thread. */
  concurrency: number;
  arena: SharedArrayBuffer;
  /** WORK ring (the thread reads) and DONE ring (the thread writes). */
  work: SharedArrayBuffer;
  done: SharedArrayBuffer;
  /**
   * One u32 (PROGRESS_STARTED): messages the thread handed to the handler so far (mod 2^32). If
   * the thread dies, what it held beyond that never reached the handler: released, not counted
   * as a delivery.
   */
  progress: SharedArrayBuffer;
}

export const PROGRESS_STARTED = 0;
export const PROGRESS_BYTES = 4;

/** Ring sizes: a WORK record is 40 bytes per grant, a DONE record 24 per settled run; both bounded by the prefetch. */
export const WORK_RING_BYTES = 1 << 18;
export const DONE_RING_BYTES = 1 << 18;
