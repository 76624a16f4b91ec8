/**
 * `baton inspect --dump`: the records of a data directory's logs, decoded where the log says
 * what it holds. Queue logs (`queue:<name>`) store one message per record in the layout of
 * src/broker/queue-message.ts: printed as id, priority, deliveries, headers and body. The queue's
 * codec is not on disk, so a body is shown as JSON when it parses as JSON, as UTF-8 text when it
 * is valid UTF-8, and as hex otherwise (msgpack bodies show as hex). Other logs print each
 * record's key, headers and value the same way. Acknowledgement (control) batches print as one
 * line. Read-only; stops at a segment's first invalid batch (inspect reports it).
 */
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { Colors } from './colors.js';
import type { FileLayer } from '../wal/file-layer.js';
import { BATCH_ATTR_CONTROL, decodeRecords } from '../wal/record-batch.js';
import { scanSegmentFile } from '../wal/recovery.js';
import { parseSegmentFileName, segmentFileName } from '../wal/segment.js';
import { WAL_DEFAULTS, WAL_DIR } from '../wal/wal.js';
import { readQueueMessage } from '../broker/queue-message.js';

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
      const control = (header.attributes & BATCH_ATTR_CONTROL) !== 0;
      let records;
      try {
        records = decodeRecords(buf, bufPos, header);
      } catch (error) {
        write(colors.red(`${header.logName}: batch at LSN ${header.baseLsn} not decodable: ${(error as Error).message}`));
        return null;
      }
      if (control) {
        write(colors.dim(`${header.logName} @${header.logBaseOffset}: ack batch, ${records.length} record(s)`));
        return null;
      }
      for (const record of records) {
        dumped += 1;
        const where = `${colors.cyan(header.logName)} @${record.offset} ${new Date(record.timestampMs).toISOString()}`;
        if (header.logName.startsWith('queue:') && record.value !== null) {
          try {
            const { message } = readQueueMessage(record.value, 0, false);
            const extras = [
              `id=${message.id}`,
              message.priority > 0 ? `priority=${message.priority}` : '',
              message.deliveries > 0 ? `deliveries=${message.deliveries}` : '',
              message.correlationId === undefined ? '' : `correlationId=${message.correlationId}`,
              message.replyTo === undefined ? '' : `replyTo=${message.replyTo}`,
              message.expiresAtMs > 0 ? `expires=${new Date(message.expiresAtMs).toISOString()}` : '',
              message.notBeforeMs > 0 ? `notBefore=${new Date(message.notBeforeMs).toISOString()}` : '',
              Object.keys(message.headers).length > 0 ? `headers=${JSON.stringify(message.headers)}` : '',
            ].filter((s) => s !== '');
            write(`${where} ${extras.join(' ')} body=${describeBytes(message.body)}`);
            continue;
          } catch {
            // Not in the queue-message layout: shown as bytes below.
          }
        }
        const headers = record.headers.length === 0 ? '' : ` headers={${record.headers.map(([k, v]) => `${k}: ${describeBytes(v)}`).join(', ')}}`;
        write(`${where}${record.key === null ? '' : ` key=${describeBytes(record.key)}`}${headers} value=${describeBytes(record.value)}`);
      }
      return null;
    });
  }
  write(colors.dim(`${dumped} record(s) dumped in ${((performance.now() - started) / 1000).toFixed(2)} s`));
  return dumped;
}
