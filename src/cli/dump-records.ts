/**
 * `baton inspect --dump`: the records of a data directory's logs, decoded where the log says
 * what it holds. Queue logs (`queue:<name>`) store each published batch as one opaque WAL batch
 * in the layout of src/broker/queue/queue-batch.ts: printed message by message as offset, id,
 * priority, expiry, delay, headers and body. Topic partitions (`topic:<name>/<p>`) store each
 * batch of a send the same way, in the layout of src/broker/topic/topic-batch.ts: printed
 * record by record as offset, key, headers and body (or tombstone); compacted topics store WAL
 * records with their keys. Byte 11 of a batch says which layout it is. The codec is not on disk, so a body is
 * shown as JSON when it parses as JSON, as UTF-8 text when it is valid UTF-8, and as hex
 * otherwise (msgpack bodies show as hex). Other logs print each record's key, headers and value
 * the same way; an opaque batch of another log prints as one line ("opaque, N messages, B
 * bytes"). Acknowledgement and delivery-count (control) batches print as one line each.
 * Read-only; stops at a segment's first invalid batch (inspect reports it).
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { Colors } from './colors.js';
import type { FileLayer } from '../wal/file-layer.js';
import { decodeDeliveryValue } from '../wal/delivery-counts.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_DELIVERIES, BATCH_ATTR_OPAQUE, batchBodyStart, decodeRecords } from '../wal/record-batch.js';
import { scanSegmentFile } from '../wal/recovery.js';
import { parseSegmentFileName, segmentFileName } from '../wal/segment.js';
import { WAL_DEFAULTS, WAL_DIR } from '../wal/wal.js';
import type { ArenaBuffer } from '../log/arena.js';
import { batchBaseOffset, batchCount, batchTimestamp, isTopicBatch, readHeaders, readKey, RECORD_TOMBSTONE, recordBodyStart as topicBodyStart, recordEnd as topicRecordEnd, recordWord, TB_HEADER_BYTES, wordBodyBytes } from '../broker/topic/topic-batch.js';
import { messageId, QB_COUNT, QB_EXPIRES_AT, QB_HEADER_BYTES, QB_KIND, QB_NOT_BEFORE, QB_PRIORITY, QB_TIMESTAMP, readExtensions, recordBodyBytes, recordBodyStart, recordEnd, BATCH_KIND_QUEUE } from '../broker/queue/queue-batch.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BODY_CHARS_MAX = 400;

/** A body as JSON, UTF-8 text or hex, whichever it is; cut at BODY_CHARS_MAX characters. */
export function describeBytes(bytes: Uint8Array | null): string {
  if (bytes === null) return 'null';
  let text: string | null = null;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = null;
  }
  let out: string;
  if (text !== null && text.length > 0) {
    try {
      out = `json ${JSON.stringify(JSON.parse(text))}`;
    } catch {
      out = /[\x00-\x08\x0e-\x1f]/.test(text) ? `hex ${Buffer.from(bytes).toString('hex')}` : `utf8 ${JSON.stringify(text)}`;
    }
  } else {
    out = `hex ${Buffer.from(bytes).toString('hex')}`;
  }
  return out.length > BODY_CHARS_MAX ? `${out.slice(0, BODY_CHARS_MAX)}… (${bytes.byteLength} B)` : out;
}

export async function dumpRecords(files: FileLayer, dataDir: string, onlyLog: string | undefined, write: (line: string) => void, colors: Colors): Promise<number> {
  const walDir = path.join(dataDir, WAL_DIR);
  const bases = (await files.readdir(walDir)).map(parseSegmentFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
  let dumped = 0;
  const started = performance.now();
  for (const base of bases) {
    const file = path.join(walDir, segmentFileName(base));
    await scanSegmentFile(files, file, WAL_DEFAULTS.batchBytesMax * 16, ({ header, buf, bufPos }) => {
      if (onlyLog !== undefined && header.logName !== onlyLog) return null;
      if ((header.attributes & BATCH_ATTR_OPAQUE) !== 0) {
        const bodyStart = batchBodyStart(Buffer.byteLength(header.logName, 'utf8'));
        const bodyBytes = header.batchLength - bodyStart;
        const body = buf.subarray(bufPos + bodyStart, bufPos + header.batchLength);
        const messages = header.logName.startsWith('queue:')
          ? dumpQueueBatch(body, header.logName, header.logBaseOffset, write, colors)
          : header.logName.startsWith('topic:')
            ? dumpTopicBatch(body, header.logName, header.logBaseOffset, write, colors)
            : -1;
        if (messages >= 0) {
          dumped += messages;
          return null;
        }
        // Not a queue batch this build reads: its size only.
        write(`${colors.cyan(header.logName)} @${header.logBaseOffset} ${new Date(header.firstTimestampMs).toISOString()} opaque, ${header.recordCount} messages, ${bodyBytes} bytes`);
        dumped += header.recordCount;
        return null;
      }
      const control = (header.attributes & BATCH_ATTR_CONTROL) !== 0;
      let records;
      try {
        records = decodeRecords(buf, bufPos, header);
      } catch (error) {
        write(colors.red(`${header.logName}: batch at LSN ${header.baseLsn} not decodable: ${(error as Error).message}`));
        return null;
      }
      if (control) {
        if ((header.attributes & BATCH_ATTR_DELIVERIES) !== 0) {
          let pairs: number[];
          try {
            pairs = records.flatMap((record) => (record.value === null ? [] : decodeDeliveryValue(record.value)));
          } catch (error) {
            write(colors.red(`${header.logName}: delivery-count batch at LSN ${header.baseLsn} not decodable: ${(error as Error).message}`));
            return null;
          }
          write(colors.dim(`${header.logName} @${header.logBaseOffset}: delivery-count batch, ${pairs.length / 2} offset(s)`));
        } else {
          write(colors.dim(`${header.logName} @${header.logBaseOffset}: ack batch, ${records.length} record(s)`));
        }
        return null;
      }
      for (const record of records) {
        dumped += 1;
        const where = `${colors.cyan(header.logName)} @${record.offset} ${new Date(record.timestampMs).toISOString()}`;
        const headers = record.headers.length === 0 ? '' : ` headers={${record.headers.map(([k, v]) => `${k}: ${describeBytes(v)}`).join(', ')}}`;
        write(`${where}${record.key === null ? '' : ` key=${describeBytes(record.key)}`}${headers} value=${describeBytes(record.value)}`);
      }
      return null;
    });
  }
  write(colors.dim(`${dumped} record(s) dumped in ${((performance.now() - started) / 1000).toFixed(2)} s`));
  return dumped;
}

/** Prints the messages of a queue batch (a WAL opaque body); -1 when it is not one. */
function dumpQueueBatch(body: Uint8Array, logName: string, baseOffset: number, write: (line: string) => void, colors: Colors): number {
  if (body.byteLength < QB_HEADER_BYTES || body[QB_KIND] !== BATCH_KIND_QUEUE) return -1;
  // Aligned for the batch readers' u32 view (a segment read puts the body anywhere).
  const copy = new ArrayBuffer((body.byteLength + 7) & ~7);
  const bytes = new Uint8Array(copy);
  bytes.set(body);
  const view = { bytes, buffer: Buffer.from(copy) as ArenaBuffer, u32: new Uint32Array(copy), f64: new Float64Array(copy) };
  const count = view.u32[QB_COUNT >>> 2]!;
  const priority = bytes[QB_PRIORITY]!;
  const expiresAtMs = view.f64[QB_EXPIRES_AT >>> 3]!;
  const notBeforeMs = view.f64[QB_NOT_BEFORE >>> 3]!;
  const time = new Date(view.f64[QB_TIMESTAMP >>> 3]!).toISOString();
  let pos = QB_HEADER_BYTES;
  try {
    for (let i = 0; i < count; i++) {
      const ext = readExtensions(view, pos);
      const start = recordBodyStart(view.u32, pos);
      const extras = [
        `id=${messageId(view, 0, i, pos)}`,
        priority > 0 ? `priority=${priority}` : '',
        ext.correlationId === undefined ? '' : `correlationId=${ext.correlationId}`,
        ext.replyTo === undefined ? '' : `replyTo=${ext.replyTo}`,
        expiresAtMs > 0 ? `expires=${new Date(expiresAtMs).toISOString()}` : '',
        notBeforeMs > 0 ? `notBefore=${new Date(notBeforeMs).toISOString()}` : '',
        Object.keys(ext.headers).length > 0 ? `headers=${JSON.stringify(ext.headers)}` : '',
      ].filter((s) => s !== '');
      write(`${colors.cyan(logName)} @${baseOffset + i} ${time} ${extras.join(' ')} body=${describeBytes(bytes.subarray(start, start + recordBodyBytes(view.u32, pos)))}`);
      pos = recordEnd(view.u32, pos);
    }
  } catch (error) {
    write(colors.red(`${logName}: queue batch at offset ${baseOffset} not decodable: ${(error as Error).message}`));
  }
  return count;
}

/** Prints the records of a topic batch (a WAL opaque body); -1 when it is not one. */
function dumpTopicBatch(body: Uint8Array, logName: string, baseOffset: number, write: (line: string) => void, colors: Colors): number {
  // Aligned for the batch readers' u32 and f64 views (a segment read puts the body anywhere).
  const copy = new ArrayBuffer((body.byteLength + 7) & ~7);
  const bytes = new Uint8Array(copy);
  bytes.set(body);
  const view = { bytes, buffer: Buffer.from(copy) as ArenaBuffer, u32: new Uint32Array(copy), f64: new Float64Array(copy) };
  if (!isTopicBatch(bytes, view.u32, 0, body.byteLength)) return -1;
  const count = batchCount(view.u32, 0);
  if (batchBaseOffset(view.f64, 0) !== baseOffset) write(colors.red(`${logName}: topic batch at offset ${baseOffset} says it starts at ${batchBaseOffset(view.f64, 0)}`));
  const time = new Date(batchTimestamp(view.f64, 0)).toISOString();
  let pos = TB_HEADER_BYTES;
  try {
    for (let i = 0; i < count; i++) {
      const word = recordWord(view.u32, pos);
      const key = readKey(view, pos, word);
      const headers = readHeaders(view, pos, word);
      const start = topicBodyStart(view.u32, pos, word);
      const extras = [
        key === null ? '' : `key=${typeof key === 'string' ? JSON.stringify(key) : describeBytes(key)}`,
        Object.keys(headers).length > 0 ? `headers=${JSON.stringify(headers)}` : '',
        (word & RECORD_TOMBSTONE) !== 0 ? 'tombstone' : `body=${describeBytes(bytes.subarray(start, start + wordBodyBytes(word)))}`,
      ].filter((s) => s !== '');
      write(`${colors.cyan(logName)} @${baseOffset + i} ${time} ${extras.join(' ')}`);
      pos = topicRecordEnd(view.u32, pos);
    }
  } catch (error) {
    write(colors.red(`${logName}: topic batch at offset ${baseOffset} not decodable: ${(error as Error).message}`));
  }
  return count;
}
