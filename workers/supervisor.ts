/**
 * Entry point of the supervisor thread: starts the supervisor (which spawns the actor hosts) and
 * exposes its API to the runtime's thread through comlink.
 */
import { expose } from 'comlink';
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../src/errors.js';
import type { SupervisorInit } from '../src/actor/runtime-protocol.js';
import { Supervisor } from '../src/actor/supervisor.js';
import { portEndpoint } from '../src/threads/comlink-port.js';
import type { StartMessage } from '../src/threads/start-thread.js';

try {
  const supervisor = await Supervisor.start(workerData as SupervisorInit);
  expose(supervisor, portEndpoint(parentPort!));
  parentPort!.postMessage({ kind: 'ready' } satisfies StartMessage);
} catch (error) {
  parentPort!.postMessage({ kind: 'failed', error: serializeError(error) } satisfies StartMessage);
}
