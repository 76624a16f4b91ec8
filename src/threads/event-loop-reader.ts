import type { RingReaderOptions } from '../ring/index.js';

/**
 * Reader options for every ring the actor runtime consumes from an event loop (`RingConsumer`,
 * `waitForRecordsAsync`): park at once, never spin.
 *
 * The reader's adaptive spin is a synchronous loop. On a thread that waits on one ring and
 * nothing else it saves a park and a wake; but the runtime's threads each wait on several things
 * at once — a host on its inbox and on its storage answers, the storage thread on one request
 * ring per host and on its own write loop (setImmediate), the main thread on replies and on the
 * user's code — and a spinning wait holds all of those, so what it waits for is usually held up
 * behind the spin itself. With the default spin every append from an actor paid up to two full
 * spins (about 250 µs each) on its host thread: one actor appending one record per receive
 * managed about 2,000 appends/s, and about 10,000 once every wait parked at once (2 cores;
 * `baton bench actor` measures the ADD path with 16 actors).
 *
 * The host still spins on its inbox when no receive of its is in flight (actor-host.ts,
 * IDLE_SPIN_POLLS): then nothing else waits on its event loop, and a streaming sender is spared a
 * notify per record.
 */
export const EVENT_LOOP_READER: RingReaderOptions = Object.freeze({ spinMin: 0, spinMax: 0 });

/**
 * The runtime's own inbox on the application's thread (replies, grants, confirms): an adaptive
 * spin of 64 polls, doubling up to 4,096 (tens of µs) while parks keep ending within 250 µs and
 * halving when they do not (RingReader's rule). During a stream the next reply usually comes
 * within a few µs of the park, and catching it spinning saves the sender a notify and this
 * thread a wake-up through the event loop; idle, the spin shrinks back to nothing worth
 * counting. The spin holds this event loop, but only for as long as a reply is due.
 */
export const RUNTIME_INBOX_READER: RingReaderOptions = Object.freeze({ spinMin: 64, spinMax: 4096 });
