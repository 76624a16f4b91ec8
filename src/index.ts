/**
 * Baton's public entry: everything users program against is exported here, and nothing else is
 * reachable (package.json `exports`). The broker (queues, topics, exchanges) lands on top of the
 * data plane that exists so far: the ring (internal) and the errors below.
 */
export {
  AlreadyAckedError,
  BatonError,
  type BatonErrorOptions,
  ClosedError,
  CodecError,
  CorruptLogError,
  DataDirLockedError,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  NotFoundError,
  QueueFullError,
  QueueMismatchError,
  RingLayoutError,
  StorageFailedError,
} from './errors.js';
