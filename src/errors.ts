/**
 * Every error a Baton user can meet is a `BatonError` with a stable `code`.
 *
 * One class per failure, grouped by subsystem. Match on `err.code`, not on the message or the
 * class identity: messages are for people and may improve; codes are a contract, listed in
 * docs/errors.md (a test fails when the two disagree).
 *
 * Class instances do not survive `postMessage`, so errors cross threads as plain
 * `{ code, message, stack }` records (`serializeError`) and are rebuilt into the right class on
 * the other side (`deserializeError`).
 */

export interface BatonErrorOptions {
  cause?: unknown;
}

export class BatonError extends Error {
  /** Stable identifier of the failure, `BATON_...`. */
  readonly code: string;

  constructor(code: string, message: string, options?: BatonErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Arguments and names
// ---------------------------------------------------------------------------------------------

/** A destination name that cannot be used (it becomes a file name: safe charset and length only). */
export class InvalidNameError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_INVALID_NAME', message, options);
  }
}

/** An option or argument outside its documented domain. */
export class InvalidArgumentError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_INVALID_ARGUMENT', message, options);
  }
}

/** A record or message larger than the maximum its ring or destination accepts. */
export class MessageTooLargeError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_MESSAGE_TOO_LARGE', message, options);
  }
}

/** A body the destination's codec cannot encode, or bytes it cannot decode. */
export class CodecError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_CODEC', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Destinations and delivery
// ---------------------------------------------------------------------------------------------

/** An unknown destination, actor, consumer or worker. */
export class NotFoundError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_NOT_FOUND', message, options);
  }
}

/** An actor did not answer a request within its time (`timeoutMs` of the call, or the runtime's request timeout). */
export class TimeoutError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_TIMEOUT', message, options);
  }
}

/** A handler thread of `q.process` / `t.process` died (exit, crash, out of memory): what it held went back (event 'thread-lost' / 'member-lost'). */
export class HandlerThreadLostError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_HANDLER_THREAD_LOST', message, options);
  }
}

/** A queue redeclared with options other than those it has (in this process, or recorded in its data directory). */
export class QueueMismatchError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_QUEUE_MISMATCH', message, options);
  }
}

/** A topic redeclared with options other than those it has (partitions, codec, retention, compaction; in this process, or recorded in its data directory). */
export class TopicMismatchError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_TOPIC_MISMATCH', message, options);
  }
}

/** A publish rejected because the queue is at `maxLength`/`maxBytes` under `reject-publish`. */
export class QueueFullError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_QUEUE_FULL', message, options);
  }
}

/** A send to a topic refused because the broker's message memory (`memoryLimitBytes`) is full. */
export class TopicFullError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_TOPIC_FULL', message, options);
  }
}

/** A delivery acknowledged (or nacked) a second time. */
export class AlreadyAckedError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_ALREADY_ACKED', message, options);
  }
}

/** An operation on a closed broker, consumer or ring. */
export class ClosedError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_CLOSED', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Ring (data plane)
// ---------------------------------------------------------------------------------------------

/** A ring whose shared memory does not hold a valid ring (wrong magic, layout or version). */
export class RingLayoutError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_RING_LAYOUT', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/** A second broker started on a data directory that another one holds. */
export class DataDirLockedError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_DATA_DIR_LOCKED', message, options);
  }
}

/** A write, fsync or read of the log failed (EIO, ENOSPC, ...). Pending confirms fail with it. */
export class StorageFailedError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_STORAGE_FAILED', message, options);
  }
}

/** A log record that fails its CRC before the recovery point, or a damaged placement file: corruption, reported with file and offset. */
export class CorruptLogError extends BatonError {
  constructor(message: string, options?: BatonErrorOptions) {
    super('BATON_CORRUPT_LOG', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Crossing threads
// ---------------------------------------------------------------------------------------------

type ErrorClass = new (message: string, options?: BatonErrorOptions) => BatonError;

/** Every code and the class that carries it. docs/errors.md lists exactly these codes. */
export const errorClassByCode: Readonly<Record<string, ErrorClass>> = Object.freeze({
  BATON_INVALID_NAME: InvalidNameError,
  BATON_INVALID_ARGUMENT: InvalidArgumentError,
  BATON_MESSAGE_TOO_LARGE: MessageTooLargeError,
  BATON_CODEC: CodecError,
  BATON_NOT_FOUND: NotFoundError,
  BATON_QUEUE_MISMATCH: QueueMismatchError,
  BATON_TOPIC_MISMATCH: TopicMismatchError,
  BATON_QUEUE_FULL: QueueFullError,
  BATON_TOPIC_FULL: TopicFullError,
  BATON_ALREADY_ACKED: AlreadyAckedError,
  BATON_HANDLER_THREAD_LOST: HandlerThreadLostError,
  BATON_TIMEOUT: TimeoutError,
  BATON_CLOSED: ClosedError,
  BATON_RING_LAYOUT: RingLayoutError,
  BATON_DATA_DIR_LOCKED: DataDirLockedError,
  BATON_STORAGE_FAILED: StorageFailedError,
  BATON_CORRUPT_LOG: CorruptLogError,
});

/** The structured-clone-safe form of an error, for `postMessage` and comlink. */
export interface SerializedError {
  code: string;
  message: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof BatonError) {
    return { code: error.code, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  }
  if (error instanceof Error) {
    const { code } = error as Error & { code?: unknown };
    return { code: typeof code === 'string' ? code : 'ERR_UNKNOWN', message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  }
  return { code: 'ERR_UNKNOWN', message: String(error) };
}

/**
 * Rebuilds an error that crossed a thread. A known Baton code becomes its class again; any other
 * code becomes a plain `Error` that keeps its `code`, so nothing about the failure is lost.
 */
export function deserializeError(serialized: SerializedError): Error {
  const ErrorClassForCode = errorClassByCode[serialized.code];
  const error: Error = ErrorClassForCode
    ? new ErrorClassForCode(serialized.message)
    : Object.assign(new Error(serialized.message), { code: serialized.code });
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}
