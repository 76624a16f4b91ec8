import { Worker } from 'node:worker_threads';
import { workerFileUrl } from '../../src/threads/worker-file.js';

/** The seed for a randomized test: BATON_TEST_SEED to replay one, else fresh. */
export function testSeed(): number {
  const fixed = process.env.BATON_TEST_SEED;
  return fixed === undefined ? (Math.random() * 2 ** 32) >>> 0 : Number(fixed) >>> 0;
}

/** Runs `body`; on failure, names the seed that replays it. */
export async function withSeed<T>(seed: number, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const message = `${error instanceof Error ? error.message : String(error)}\n  replay with BATON_TEST_SEED=${seed}`;
    throw Object.assign(error instanceof Error ? error : new Error(message), { message });
  }
}

export function startFixture(name: string, workerData: unknown): Worker {
  return new Worker(workerFileUrl(`fixtures/${name}`), { workerData });
}

/** The next message of `kind` from a fixture (or of any kind when omitted); rejects on worker error. */
export function nextMessage<T>(worker: Worker, kind?: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { kind?: string }) => {
      if (kind !== undefined && message.kind !== kind) return;
      cleanup();
      resolve(message as T);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`fixture exited with code ${code} before sending ${kind ?? 'a message'}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
