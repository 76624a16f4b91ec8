/**
 * A zero-copy view of one record, handed to `RingReader.drain` callbacks.
 *
 * The reader reuses one instance for every record (no allocation per record), and the bytes it
 * points at are released to producers once the callback returns: read or copy the payload inside
 * the callback, never keep the view.
 */
export class RingRecord {
  /** The record's type, >= 0. */
  type = 0;
  /** The actor the record is addressed to. */
  destination = 0;
  /** The record's free int32 (a sequence, a correlation id). */
  meta = 0;
  /** Byte offset of the payload in `bytes`. */
  offset = 0;
  /** Payload length in bytes. */
  length = 0;

  constructor(
    /** The ring's whole shared buffer; the payload is `bytes[offset .. offset + length)`. */
    readonly bytes: Uint8Array,
  ) {}

  /** A view of the payload. Allocates a view object (not the bytes): prefer `bytes`/`offset` on hot paths. */
  payload(): Uint8Array {
    return this.bytes.subarray(this.offset, this.offset + this.length);
  }

  /** A copy of the payload that outlives the callback. Allocates. */
  copyPayload(): Uint8Array {
    return this.bytes.slice(this.offset, this.offset + this.length);
  }
}
