/**
 * Entry point of a topic group member's handler thread (`topic.process`): imports the user's
 * module once and runs its default export for each record the member posts, answering
 * `{ id, ok }` or `{ id, ok: false, error }`. If this thread dies — the handler calls
 * process.exit, throws outside a record, runs out of memory — the member on the broker thread
 * leaves its group and the partitions move to the other members (topic-process.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../src/errors.js';

export interface TopicMemberWorkerData {
  handler: string;
}

export interface TopicMemberTask {
  id: number;
  message: { partition: number; offset: number; key: string | Uint8Array | null; timestamp: number; body: unknown; headers: Record<string, string> };
}

const port = parentPort!;
const module = (await import((workerData as TopicMemberWorkerData).handler)) as { default?: unknown };
const handler = module.default;
if (typeof handler !== 'function') throw new TypeError(`${(workerData as TopicMemberWorkerData).handler} has no default export function to handle records`);

port.on('message', (task: TopicMemberTask) => {
  Promise.resolve()
    .then(() => (handler as (message: TopicMemberTask['message']) => unknown)(task.message))
    .then(
      () => port.postMessage({ id: task.id, ok: true }),
      (error: unknown) => port.postMessage({ id: task.id, ok: false, error: serializeError(error) }),
    );
});
port.postMessage({ ready: true });
