/**
 * Shared words through which each actor host shows the supervisor that it is alive, without a
 * message: one SharedArrayBuffer, HEALTH_INTS_PER_HOST int32 per host, each host on its own
 * 128-byte line (a host writes its beat every loop; neighbours must not share the line).
 *
 *   HEALTH_BEAT          bumped by the host on every loop
 *   HEALTH_BUSY          1 while the host works, 0 while it is parked with nothing to do
 *   HEALTH_IN_RECEIVE    1 while an actor's `receive` runs (its synchronous part)
 *   HEALTH_RECORD_END    the inbox position just past the record that `receive` handles
 *
 * A host that is busy and whose beat has not moved for `stallTimeoutMs` is stalled (a handler
 * in an endless loop, a blocking call): the supervisor treats it as dead. A parked host's beat
 * does not move either, but it is not busy: idle hosts cost no CPU and are not restarted.
 */
export const HEALTH_INTS_PER_HOST = 32;
export const HEALTH_BEAT = 0;
export const HEALTH_BUSY = 1;
export const HEALTH_IN_RECEIVE = 2;
export const HEALTH_RECORD_END = 3;

/*
 * HEALTH_IN_RECEIVE and HEALTH_RECORD_END are plain stores, read only after the host thread is
 * gone (its termination orders them): if a host dies inside `receive` (out of memory, stalled,
 * exited), that record is the likely cause, and its replacement drops it instead of dying on it
 * again — the host-level twin of an actor's failed record not being handed to it again.
 */

export function allocateHealth(hosts: number): SharedArrayBuffer {
  return new SharedArrayBuffer(hosts * HEALTH_INTS_PER_HOST * Int32Array.BYTES_PER_ELEMENT);
}
