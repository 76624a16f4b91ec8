import type { RingReaderOptions } from '../ring/index.js';

/**
 * Reader options for every ring the actor runtime consumes from an event loop (`RingConsumer`,
 * `waitForRecordsAsync`): park at once, never spin.
 *
 * The reader's adaptive spin is a synchronous loop: on a thread that waits on one ring and
 * nothing else it saves a park and a wake, but the runtime's threads each wait on several things
 * at once — a host on its inbox and on its storage responses, the storage thread on one request
 * ring per host and on its own write loop (setImmediate), the main thread on replies and on the
 * user's code. A spinning wait blocks all of those, so the record it spins for is usually held up
 * behind the spin itself: before this, every append round trip from an actor to the storage
 * thread paid up to two full spins (about 250 µs each) on the host thread, and a host's spin also
 * took a core from the sender on a 2-core machine. `baton bench actor` measures the difference.
 */
export const EVENT_LOOP_READER: RingReaderOptions = Object.freeze({ spinMin: 0, spinMax: 0 });
