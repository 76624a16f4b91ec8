import { MultiProducerWriter } from './multi-producer-writer.js';
import { RingMemory } from './ring-layout.js';
import type { RingWriter } from './ring-writer.js';
import { SingleProducerWriter } from './single-producer-writer.js';

/** Attaches the writer that fits the ring's kind, taking a writer slot. */
export function attachWriter(buffer: SharedArrayBuffer): RingWriter {
  return new RingMemory(buffer).kind === 'multi-producer' ? new MultiProducerWriter(buffer) : new SingleProducerWriter(buffer);
}
