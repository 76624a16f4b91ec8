// The ring's surface inside the package (the data plane). Not part of the public API.
export { attachWriter } from './attach-writer.js';
export { MultiProducerWriter } from './multi-producer-writer.js';
export { allocateRing, RECORD_HEADER_BYTES, RingMemory, type RingKind, type RingOptions } from './ring-layout.js';
export { DRAIN_RECORDS_DEFAULT, RingReader, type RecordHandler, type RingReaderOptions, type ScanHandler } from './ring-reader.js';
export { consumeBlocking, RingConsumer, type ConsumeOptions } from './ring-consumer.js';
export { RingRecord } from './ring-record.js';
export { repairRing, type RepairReport } from './ring-repair.js';
export { RingWriter } from './ring-writer.js';
export { SingleProducerWriter } from './single-producer-writer.js';
