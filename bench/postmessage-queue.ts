/**
 * The peer every queue row is compared with: a queue a Node user would write by hand with
 * worker_threads and postMessage. A worker owns the messages; the producer packs each batch into
 * one ArrayBuffer and transfers it (one postMessage per batch, confirmed by a reply once the
 * worker holds it, IN_FLIGHT batches outstanding); the worker pushes deliveries back in packed,
 * transferred batches within a prefetch window; the consumer acknowledges each delivery batch
 * with one message, and the worker then forgets those messages. No log, no priorities, no
 * redelivery: the floor of what a queue between threads costs with postMessage.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ReceiveCounter, sendInBatches } from './batch-driver.js';

const IN_FLIGHT = 4;
const PREFETCH = 2_000;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const ready = [];      // [buffer, offset, length] triples of messages not yet delivered
let readyHead = 0;
let unacked = 0;
const prefetch = ${PREFETCH};
function deliver() {
  while (readyHead < ready.length && unacked < prefetch) {
    const count = Math.min(prefetch - unacked, (ready.length - readyHead) / 3);
    let bytes = 4;
    for (let i = 0; i < count; i++) bytes += 4 + ready[readyHead + 3 * i + 2];
    const out = new Uint8Array(bytes);
    const view = new DataView(out.buffer);
    view.setUint32(0, count, true);
    let p = 4;
    for (let i = 0; i < count; i++) {
      const [buffer, offset, length] = [ready[readyHead], ready[readyHead + 1], ready[readyHead + 2]];
      readyHead += 3;
      view.setUint32(p, length, true);
      out.set(buffer.subarray(offset, offset + length), p + 4);
      p += 4 + length;
    }
    if (readyHead > 30000) { ready.splice(0, readyHead); readyHead = 0; }
    unacked += count;
    parentPort.postMessage({ deliver: out.buffer }, [out.buffer]);
  }
}
parentPort.on('message', (m) => {
  if (m.publish) {
    const bytes = new Uint8Array(m.publish);
    const view = new DataView(m.publish);
    const count = view.getUint32(0, true);
    let p = 4;
    for (let i = 0; i < count; i++) { const length = view.getUint32(p, true); ready.push(bytes, p + 4, length); p += 4 + length; }
    parentPort.postMessage({ confirm: m.id });
    deliver();
  } else if (m.ack) {
    unacked -= m.ack;
    deliver();
  }
});
`;

/** Messages/s through the postMessage queue: `messages` of `size` bytes sent in batches of `batch`, consumed and acked. */
export async function measurePostMessageQueue(size: number, messages: number, batch: number): Promise<number> {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  try {
    const payload = new Uint8Array(size).fill(120);
    const counter = new ReceiveCounter(messages);
    const confirms = new Map<number, () => void>();
    let nextId = 0;
    worker.on('message', (m: { deliver?: ArrayBuffer; confirm?: number }) => {
      if (m.confirm !== undefined) {
        confirms.get(m.confirm)?.();
        confirms.delete(m.confirm);
        return;
      }
      const view = new DataView(m.deliver!);
      const bytes = new Uint8Array(m.deliver!);
      const count = view.getUint32(0, true);
      let p = 4;
      for (let i = 0; i < count; i++) {
        const length = view.getUint32(p, true);
        const body = bytes.subarray(p + 4, p + 4 + length);
        if (body.byteLength !== size) throw new Error('postMessage queue: a message came back damaged');
        p += 4 + length;
      }
      worker.postMessage({ ack: count });
      counter.add(count);
    });
    const publish = (count: number) => {
      const packed = new Uint8Array(4 + count * (4 + size));
      const view = new DataView(packed.buffer);
      view.setUint32(0, count, true);
      for (let i = 0, p = 4; i < count; i++, p += 4 + size) {
        view.setUint32(p, size, true);
        packed.set(payload, p + 4);
      }
      const id = nextId++;
      const confirmed = new Promise<void>((resolve) => confirms.set(id, resolve));
      worker.postMessage({ publish: packed.buffer, id }, [packed.buffer]);
      return confirmed;
    };
    const startedMs = performance.now();
    await sendInBatches(messages, new Array<number>(batch).fill(0), IN_FLIGHT, (items) => publish(items.length));
    await counter.all;
    return messages / ((performance.now() - startedMs) / 1000);
  } finally {
    await worker.terminate();
  }
}
