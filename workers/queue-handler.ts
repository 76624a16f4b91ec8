/**
 * Entry point of a `queue.process` handler thread: loads the user's module, says it is ready
 * (or why it could not start), then runs the loop of src/broker/queue/process-worker.ts until
 * its work ring closes. If this thread dies with messages in hand, the consumer on the broker's
 * thread requeues them (queue-process.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadHandler, runHandlerThread } from '../src/broker/queue/process-worker.js';
import type { HandlerThreadData } from '../src/broker/queue/process-protocol.js';
import { serializeError } from '../src/errors.js';
import type { StartMessage } from '../src/threads/start-thread.js';

const data = workerData as HandlerThreadData;
try {
  const handler = await loadHandler(data.handler);
  parentPort!.postMessage({ kind: 'ready' } satisfies StartMessage);
  await runHandlerThread(data, handler);
} catch (error) {
  parentPort!.postMessage({ kind: 'failed', error: serializeError(error) } satisfies StartMessage);
}
