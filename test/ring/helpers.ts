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

interface FixtureMessage {
  kind?: string;
}

/** A fixture thread whose messages are logged from its start, so none is missed between awaits. */
export class Fixture {
  readonly worker: Worker;
  readonly #messages: FixtureMessage[] = [];
  #failure: Error | undefined;
  #waiters: (() => void)[] = [];

  constructor(name: string, workerData: unknown) {
    this.worker = new Worker(workerFileUrl(`fixtures/${name}`), { workerData });
    this.worker.on('message', (message: FixtureMessage) => {
      this.#messages.push(message);
      this.#wake();
    });
    this.worker.on('error', (error) => {
      this.#failure = error;
      this.#wake();
    });
    this.worker.on('exit', (code) => {
      this.#failure ??= new Error(`fixture exited with code ${code}`);
      this.#wake();
    });
  }

  /** The first message of `kind` not yet taken (any kind when omitted); rejects if the thread ends first. */
  async next<T>(kind?: string): Promise<T> {
    for (;;) {
      const index = this.#messages.findIndex((m) => kind === undefined || m.kind === kind);
      if (index >= 0) return this.#messages.splice(index, 1)[0] as T;
      if (this.#failure) throw new Error(`${this.#failure.message} before sending ${kind ?? 'a message'}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export function startFixture(name: string, workerData: unknown): Fixture {
  return new Fixture(name, workerData);
}
