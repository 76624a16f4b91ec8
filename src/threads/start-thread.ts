import { Worker } from 'node:worker_threads';
import { deserializeError, type SerializedError } from '../errors.js';
import { workerFileUrl } from './worker-file.js';

/** What a thread entry posts once it is ready to serve, or why it could not start. */
export type StartMessage = { kind: 'ready' } | { kind: 'failed'; error: SerializedError };

/**
 * Starts `workers/<name>.js` and resolves once it posted `{ kind: 'ready' }`. If it posts
 * `{ kind: 'failed', error }` (or dies first), the thread is terminated and its error — rebuilt
 * as the same BatonError class — is thrown here, on the caller's thread.
 */
export async function startThread(name: string, workerData: unknown): Promise<Worker> {
  const thread = new Worker(workerFileUrl(name), { workerData });
  const started = await new Promise<StartMessage>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
  });
  if (started.kind !== 'ready') {
    await thread.terminate();
    throw deserializeError(started.error);
  }
  return thread;
}
