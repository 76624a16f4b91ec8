/**
 * Parking and waking for ring endpoints: a bounded spin first, then `Atomics.wait` (worker
 * threads) or `Atomics.waitAsync` (the main thread, or any thread that must keep its event loop
 * turning). An idle endpoint is parked in the kernel and costs no CPU.
 *
 * The handshake is the same in both directions and free of lost wake-ups:
 *
 *   waiter:  seen = load(DOORBELL); announce (store PARKED); if ready() -> retract, return;
 *            wait(DOORBELL, seen)
 *   waker:   publish (store TAIL/HEAD or commit a length); if load(PARKED) -> bump DOORBELL, notify
 *
 * JS atomics are sequentially consistent, so this is Dekker's pattern: either the waiter's
 * `ready()` sees the publication, or the waker's load sees the announcement and bumps the
 * doorbell. Bumping before `notify` closes the last gap: a waiter that has announced but not yet
 * entered `Atomics.wait` finds DOORBELL != seen and returns at once ("not-equal"). The waiter
 * waits on a doorbell rather than on TAIL itself because a multi-producer commit changes a
 * record's length, not TAIL.
 *
 * Wakers call `notify` only when a waiter is announced: notify takes a process-wide lock in V8
 * (docs/ring.md), so a busy ring with a running consumer never pays for it.
 */
import {
  CONSUMER_PARKED,
  DATA_DOORBELL,
  PRODUCERS_PARKED,
  SPACE_DOORBELL,
} from './ring-layout.js';

export type ParkResult = 'ready' | 'ok' | 'not-equal' | 'timed-out';

const noop = () => {};

/**
 * Wakes the ring's consumer if it is parked. Only the waker that flips CONSUMER_PARKED from 1 to
 * 0 bumps and notifies, so several producers committing at once cost one notify.
 */
export function wakeConsumer(ints: Int32Array): void {
  if (Atomics.compareExchange(ints, CONSUMER_PARKED, 1, 0) === 1) {
    Atomics.add(ints, DATA_DOORBELL, 1);
    Atomics.notify(ints, DATA_DOORBELL, 1);
  }
}

/**
 * Wakes the ring's consumer if it is parked or napping (`CONSUMER_NAPPING`): for a record that
 * should not wait out a nap (a lone message someone is waiting on). Costs the caller a notify
 * when the consumer sleeps, as a park does.
 */
export function rouseConsumer(ints: Int32Array): void {
  const state = Atomics.load(ints, CONSUMER_PARKED);
  if (state !== 0 && Atomics.compareExchange(ints, CONSUMER_PARKED, state, 0) === state) {
    Atomics.add(ints, DATA_DOORBELL, 1);
    Atomics.notify(ints, DATA_DOORBELL, 1);
  }
}

/** Wakes every producer parked for space. Called by the consumer after it moves HEAD. */
export function wakeProducers(ints: Int32Array): void {
  Atomics.add(ints, SPACE_DOORBELL, 1);
  Atomics.notify(ints, SPACE_DOORBELL);
}

/**
 * CONSUMER_PARKED while a consumer naps for a bounded time and will look again on its own
 * (`napConsumer`): producers see it is not 1 and skip the notify. On a virtual machine a notify
 * that wakes a parked thread costs its caller 20 µs and more (an inter-processor interrupt),
 * and the caller is usually the busiest thread there is; the napping thread pays its own wake-up,
 * on its own core, instead.
 */
export const CONSUMER_NAPPING = 2;

/**
 * Sleeps the consumer for at most `timeoutMs` (Atomics.wait: blocks the thread), unless a
 * record is ready. Producers do not wake it; a `wake` (the doorbell) still does.
 */
export function napConsumer(ints: Int32Array, ready: () => boolean, timeoutMs: number): ParkResult {
  const seen = Atomics.load(ints, DATA_DOORBELL);
  Atomics.store(ints, CONSUMER_PARKED, CONSUMER_NAPPING);
  if (ready()) {
    Atomics.store(ints, CONSUMER_PARKED, 0);
    return 'ready';
  }
  const result = Atomics.wait(ints, DATA_DOORBELL, seen, timeoutMs);
  Atomics.store(ints, CONSUMER_PARKED, 0);
  return result;
}

/** Parks the consumer until a producer rings, `ready()` holds, or the timeout passes. Blocks the thread. */
export function parkConsumer(ints: Int32Array, ready: () => boolean, timeoutMs: number): ParkResult {
  const seen = Atomics.load(ints, DATA_DOORBELL);
  Atomics.store(ints, CONSUMER_PARKED, 1);
  // Re-check after announcing: a record committed before the announcement saw PARKED == 0 and
  // will not ring.
  if (ready()) {
    Atomics.store(ints, CONSUMER_PARKED, 0);
    return 'ready';
  }
  const result = Atomics.wait(ints, DATA_DOORBELL, seen, timeoutMs);
  Atomics.store(ints, CONSUMER_PARKED, 0);
  return result;
}

/** `parkConsumer` for threads that must not block: the event loop keeps running while it waits. */
export async function parkConsumerAsync(ints: Int32Array, ready: () => boolean, timeoutMs: number): Promise<ParkResult> {
  const seen = Atomics.load(ints, DATA_DOORBELL);
  Atomics.store(ints, CONSUMER_PARKED, 1);
  if (ready()) {
    Atomics.store(ints, CONSUMER_PARKED, 0);
    return 'ready';
  }
  try {
    return await waitAsyncKeepingAlive(ints, DATA_DOORBELL, seen, timeoutMs);
  } finally {
    Atomics.store(ints, CONSUMER_PARKED, 0);
  }
}

/**
 * Parks a producer until the consumer frees space, `ready()` holds, or the timeout passes.
 * `slotParked` is the producer's own slot word, so `repair` can uncount a producer that died
 * while parked.
 */
export function parkProducer(ints: Int32Array, slotParked: number, ready: () => boolean, timeoutMs: number): ParkResult {
  const seen = announceProducer(ints, slotParked);
  if (ready()) {
    retractProducer(ints, slotParked);
    return 'ready';
  }
  const result = Atomics.wait(ints, SPACE_DOORBELL, seen, timeoutMs);
  retractProducer(ints, slotParked);
  return result;
}

export async function parkProducerAsync(
  ints: Int32Array,
  slotParked: number,
  ready: () => boolean,
  timeoutMs: number,
): Promise<ParkResult> {
  const seen = announceProducer(ints, slotParked);
  if (ready()) {
    retractProducer(ints, slotParked);
    return 'ready';
  }
  try {
    return await waitAsyncKeepingAlive(ints, SPACE_DOORBELL, seen, timeoutMs);
  } finally {
    retractProducer(ints, slotParked);
  }
}

function announceProducer(ints: Int32Array, slotParked: number): number {
  const seen = Atomics.load(ints, SPACE_DOORBELL);
  Atomics.store(ints, slotParked, 1);
  Atomics.add(ints, PRODUCERS_PARKED, 1);
  return seen;
}

function retractProducer(ints: Int32Array, slotParked: number): void {
  Atomics.sub(ints, PRODUCERS_PARKED, 1);
  Atomics.store(ints, slotParked, 0);
}

/**
 * `Atomics.waitAsync` whose wait keeps the process alive: its promise alone does not hold the
 * event loop open (nodejs/node#44729), so a consumer on the main thread would let the process
 * exit, or stall, while records are still on their way. A ref'd timer holds the loop for as long
 * as the wait lasts.
 */
async function waitAsyncKeepingAlive(ints: Int32Array, index: number, seen: number, timeoutMs: number): Promise<ParkResult> {
  const waiting = Atomics.waitAsync(ints, index, seen, timeoutMs);
  if (!waiting.async) return waiting.value;
  holdEventLoop();
  try {
    return await waiting.value;
  } finally {
    releaseEventLoop();
  }
}

/**
 * One interval per thread holds the event loop open while any of its waits is parked: ref'd
 * while the count is above zero, unref'd at zero. (A timer made and cleared per park cost a
 * timer-list insert and removal on every park.)
 */
let parkedWaits = 0;
let keepAlive: ReturnType<typeof setInterval> | null = null;

function holdEventLoop(): void {
  if (parkedWaits++ > 0) return;
  keepAlive ??= setInterval(noop, 1 << 30);
  keepAlive.ref();
}

function releaseEventLoop(): void {
  if (--parkedWaits === 0) keepAlive!.unref();
}
