/**
 * Records between the broker (the runtime thread) and a queue actor. Message kinds are one
 * constant table; both ends end their dispatch with an assertion on an unknown kind.
 *
 * To the queue (meta: request id, answered by a RESULT with the same meta):
 *   PUBLISH    [u32 count][message]...          (queue-message.ts layout, back to back)
 *   SUBSCRIBE  JSON { consumer, prefetch, ack }
 *   CANCEL     JSON { consumer }                 its unacknowledged deliveries are requeued
 *   SETTLE     [u8 how][f64 delayMs][u32 count][f64 tag]...   (meta 0: no answer)
 *   PURGE | STATS | DELETE                       (empty)
 * From the queue:
 *   RESULT       meta = request id, JSON { ok: true, value } | { ok: false, error: SerializedError }
 *   DELIVER      meta = consumer id, [u32 count] then per message [f64 tag][message]
 *   DEAD_LETTER  meta 0, [u16 reason length][reason utf8][message]
 */
export const QueueRecord = Object.freeze({
  PUBLISH: 100,
  SUBSCRIBE: 101,
  CANCEL: 102,
  SETTLE: 103,
  PURGE: 104,
  STATS: 105,
  DELETE: 106,
  RESULT: 200,
  DELIVER: 201,
  DEAD_LETTER: 202,
});

export const Settle = Object.freeze({
  ACK: 1,
  /** Back to the queue, delivered again (redelivered = true). */
  REQUEUE: 2,
  /** Not requeued: dead-lettered (reason 'rejected') when the queue has a dead-letter queue, else dropped. */
  REJECT: 3,
  /** Back to the queue after `delayMs`. */
  REQUEUE_LATER: 4,
});

export type AckMode = 'auto' | 'manual' | 'none';

export interface QueueOptions {
  durable: boolean;
  maxPriority: number;
  deadLetter?: string;
  maxDeliveries?: number;
  messageTtlMs?: number;
  maxLength?: number;
  maxBytes?: number;
  overflow: 'reject-publish' | 'drop-head';
  ackTimeoutMs?: number;
  /** Bytes of bodies a queue with a log keeps in memory; beyond, bodies stay on disk until delivered. */
  memoryBytes?: number;
}

export interface QueueActorOptions extends QueueOptions {
  name: string;
}

export interface QueueStats {
  ready: number;
  unacked: number;
  consumers: number;
  delayed: number;
  readyBytes: number;
}

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery-limit';
