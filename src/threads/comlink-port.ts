/**
 * comlink over Node worker ports, for the control plane.
 *
 * comlink's Node adapter ships as CommonJS; from ESM its module object is the adapter function
 * itself, which its typings do not describe — hence the cast. And comlink sends a thrown error
 * as { message, name, stack }, losing its `code` and class: every thread that speaks comlink
 * imports this module, which makes errors cross as Baton's `{ code, message, stack }` and come
 * back as the same `BatonError` class.
 */
import { type Endpoint, transferHandlers, type TransferHandler } from 'comlink';
import * as adapterModule from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort, Worker } from 'node:worker_threads';
import { deserializeError, serializeError, type SerializedError } from '../errors.js';

type NodeEndpointFactory = (port: MessagePort | Worker) => Endpoint;
const imported = adapterModule as unknown as { default: NodeEndpointFactory };
const nodeEndpoint: NodeEndpointFactory = imported.default;

type Thrown = { isError: true; value: SerializedError } | { isError: false; value: unknown };
const comlinkThrow = transferHandlers.get('throw')!;
const batonThrow: TransferHandler<{ value: unknown }, Thrown> = {
  canHandle: (value): value is { value: unknown } => comlinkThrow.canHandle(value),
  serialize: ({ value }) => [value instanceof Error ? { isError: true, value: serializeError(value) } : { isError: false, value }, []],
  deserialize: (thrown) => {
    throw thrown.isError ? deserializeError(thrown.value) : thrown.value;
  },
};
transferHandlers.set('throw', batonThrow as TransferHandler<unknown, unknown>);

/** A comlink endpoint on a worker, the worker's parentPort, or a MessagePort. */
export function portEndpoint(port: MessagePort | Worker): Endpoint {
  return nodeEndpoint(port);
}
