/**
 * Peer: a queue a Node user would write by hand with worker_threads and postMessage. A worker owns
 * the messages; a producer packs each batch into one ArrayBuffer — JSON text (JSON.stringify) or
 * the raw bytes, each with a u32 length — and transfers it (one postMessage per batch, confirmed
 * by a reply once the worker holds it; the IN_FLIGHT batches of batch-driver.ts); the worker
 * pushes deliveries back in packed, transferred batches within a prefetch window; the consumer
 * decodes (JSON.parse) and checks every message, then acknowledges the delivery batch with one
 * message, and the worker forgets those. The clock stops when the worker, asked after the last
 * message was handled, holds nothing ready and nothing unacknowledged. No log, no priorities, no
 * redelivery: the floor of what a queue between threads costs with postMessage.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { IN_FLIGHT, type LoadLimits, produceBatches, sum } from '../batch-driver.js';
import { type BodyShape, makeBatch } from '../bodies.js';
import type { RunResult } from '../rounds.js';
import { RowCost, rolesOf } from '../row-cost.js';
import { SequenceCheck } from '../sequence-check.js';

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
  } else if (m.stats !== undefined) {
    parentPort.postMessage({ stats: m.stats, ready: (ready.length - readyHead) / 3, unacked });
  }
});
let tid = 0;
try { tid = Number.parseInt(require('node:fs').readFileSync('/proc/thread-self/stat', 'latin1'), 10); } catch {}
parentPort.postMessage({ tid });
`;

interface FromWorker {
  tid?: number;
  confirm?: number;
  deliver?: ArrayBuffer;
  stats?: number;
  ready?: number;
  unacked?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export async function measurePostMessageQueue(shape: BodyShape, limits: LoadLimits): Promise<RunResult> {
  const { codec, size } = shape;
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  try {
    const check = new SequenceCheck(`postMessage queue ${codec} ${size} B`, IN_FLIGHT);
    const replies = new Map<number, (m: FromWorker) => void>();
    let nextId = 0;
    let workerTid = 0;
    const started = new Promise<void>((resolve) => {
      worker.on('message', (m: FromWorker) => {
        if (m.tid !== undefined) {
          workerTid = m.tid;
          resolve();
        } else if (m.confirm !== undefined || m.stats !== undefined) {
          const id = (m.confirm ?? m.stats)!;
          replies.get(id)?.(m);
          replies.delete(id);
        } else {
          try {
            consume(m.deliver!);
          } catch {
            // Recorded by the check: whenHandled rejects.
          }
        }
      });
    });
    worker.on('error', (error) => {
      try {
        check.fail(error);
      } catch {
        // Recorded.
      }
    });
    const consume = (buffer: ArrayBuffer) => {
      const view = new DataView(buffer);
      const bytes = new Uint8Array(buffer);
      const count = view.getUint32(0, true);
      for (let i = 0, p = 4; i < count; i++) {
        const length = view.getUint32(p, true);
        const body = bytes.subarray(p + 4, p + 4 + length);
        check.handleBody(codec === 'json' ? decoder.decode(body) : body, size);
        p += 4 + length;
      }
      worker.postMessage({ ack: count });
    };
    const ask = (message: Record<string, unknown>, id: number, transfer: ArrayBuffer[] = []) =>
      new Promise<FromWorker>((resolve) => {
        replies.set(id, resolve);
        worker.postMessage(message, transfer);
      });
    const publish = (p: number, first: number, count: number) => {
      const packed = new Uint8Array(4 + count * (4 + size));
      const view = new DataView(packed.buffer);
      view.setUint32(0, count, true);
      let at = 4;
      for (const body of makeBatch(shape, p, first, count)) {
        const length = codec === 'json' ? encoder.encodeInto(JSON.stringify(body), packed.subarray(at + 4, at + 4 + size)).written : size;
        if (codec === 'raw') packed.set(body as Uint8Array, at + 4);
        view.setUint32(at, length, true);
        at += 4 + length;
      }
      const id = nextId++;
      return ask({ publish: packed.buffer, id }, id, [packed.buffer]);
    };
    await started;
    const cost = await RowCost.start();
    const startedAt = performance.now();
    const sent = await produceBatches(limits, publish);
    const messages = sum(sent);
    await check.whenHandled(messages);
    let endedAt: number;
    for (;;) {
      const id = nextId++;
      const stats = await ask({ stats: id }, id);
      endedAt = performance.now();
      if (stats.ready === 0 && stats.unacked === 0) break;
    }
    const extra = await cost.stop(messages, endedAt, rolesOf(workerTid > 0 ? [workerTid] : [], 'peerWorker'));
    check.verify(sent);
    return { messages, seconds: (endedAt - startedAt) / 1000, extra };
  } finally {
    await worker.terminate();
  }
}
