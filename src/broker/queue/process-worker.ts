/**
 * A `queue.process` handler thread's loop: it takes WORK (granted messages) from its ring,
 * reads each message in place in the arena, calls the user's handler with it, and reports
 * what it settled through its DONE ring: acked when the handler returns or resolves, requeued
 * (nacked) when it throws. At most `concurrency` handler calls run at once; results go out once
 * per turn of this thread's event loop, merged into ranges.
 *
 * The handler gets a delivery (queue-delivery.ts) as a consumer on the broker's thread would:
 * `msg.id`, `msg.body` (decoded here, by the queue's codec), `msg.bytes`, `msg.headers`,
 * `msg.priority`, `msg.deliveryCount`, `msg.redelivered`, decoded on first use.
 */
import { Arena } from '../../log/arena.js';
import { attachWriter, RingConsumer, RingReader } from '../../ring/index.js';
import { EVENT_LOOP_READER } from '../../threads/event-loop-reader.js';
import { getCodec } from '../codec.js';
import { recordEnd } from './queue-batch.js';
import { ConsumerGrant, type DeliverySource, QueueDelivery } from './queue-delivery.js';
import { type GrantEntry, SettleBuffer } from './queue-protocol.js';
import { doneBytes, type HandlerThreadData, ProcessRecord, PROGRESS_STARTED, readWork, writeDone } from './process-protocol.js';

type Handler = (message: QueueDelivery) => unknown;

/** Loads the handler module (its default export handles one message); throws when it has none. */
export async function loadHandler(url: string): Promise<Handler> {
  const loaded = (await import(url)) as { default?: unknown };
  if (typeof loaded.default !== 'function') throw new TypeError(`${url} has no default export function to handle messages`);
  return loaded.default as Handler;
}

/** Runs the thread's loop until its WORK ring is closed. */
export async function runHandlerThread(data: HandlerThreadData, handler: Handler): Promise<void> {
  const arena = new Arena(data.arena);
  const done = attachWriter(data.done);
  const settles = new SettleBuffer();
  const waiting: QueueDelivery[] = [];
  let head = 0;
  let running = 0;
  let flushScheduled = false;
  const entries: GrantEntry[] = [];

  const flush = () => {
    flushScheduled = false;
    if (settles.length === 0) return;
    const n = settles.length;
    // The broker's thread reads DONE as it comes; a full ring waits (it is bounded by the prefetch).
    if (!done.tryWriteWith(ProcessRecord.DONE, 0, doneBytes(n), (bytes, at) => writeDone(bytes, at, 0, settles, 0, n))) {
      const payload = new Uint8Array(doneBytes(n));
      writeDone(payload, 0, 0, settles, 0, n);
      void done.write(ProcessRecord.DONE, 0, payload);
    }
    settles.clear();
  };

  const source: DeliverySource = {
    codec: getCodec(data.codec),
    arenaBytes: () => arena,
    settle(delivery, how, delayMs) {
      delivery.markSettled();
      settles.add(delivery.grant.id, delivery.index, how, delayMs);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
  };

  const finish = (delivery: QueueDelivery, failed: boolean) => {
    if (!delivery.settled) {
      if (failed) delivery.nack({ requeue: true });
      else delivery.ack();
    }
    running--;
    pump();
  };

  const progress = new Uint32Array(data.progress);
  let started = 0;
  const run = (delivery: QueueDelivery) => {
    started = (started + 1) >>> 0;
    Atomics.store(progress, PROGRESS_STARTED, started);
    let result: unknown;
    try {
      result = handler(delivery);
    } catch {
      finish(delivery, true);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        () => finish(delivery, false),
        () => finish(delivery, true),
      );
    } else {
      finish(delivery, false);
    }
  };

  let pumping = false;
  const pump = () => {
    if (pumping) return;
    pumping = true;
    while (running < data.concurrency && head < waiting.length) {
      const delivery = waiting[head]!;
      waiting[head++] = undefined as never;
      running++;
      run(delivery);
    }
    if (head === waiting.length) {
      waiting.length = 0;
      head = 0;
    }
    pumping = false;
  };

  // Work comes in as the broker's thread grants it; the loop parks on its event loop in between.
  const consumer = new RingConsumer(new RingReader(data.work, EVENT_LOOP_READER), (record) => {
    if (record.type !== ProcessRecord.WORK) throw new Error(`handler thread: unknown record type ${record.type}`);
    const count = readWork(record.payload(), entries);
    for (let e = 0; e < count; e++) {
      const entry = entries[e]!;
      const grant = new ConsumerGrant(source, entry.grant, entry.batch, entry.index, entry.count, entry.deliveries, 0);
      arena.ensure(entry.batch + 8);
      arena.ensure(entry.batch + arena.u32[entry.batch >>> 2]!);
      let pos = entry.record;
      for (let i = 0; i < entry.count; i++) {
        waiting.push(new QueueDelivery(grant, i, pos));
        pos = recordEnd(arena.u32, pos);
      }
    }
    pump();
  });
  await consumer.done;
}
