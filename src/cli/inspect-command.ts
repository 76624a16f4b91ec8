/**
 * `baton inspect --data-dir DIR [NAME] [--json] [--dump]`: lists a data directory's segments and logs
 * with their offsets and sizes, verifies every CRC, and reports corruption with the file and
 * byte offset. Read-only and lock-free. Exit status: 0 when the log is sound (a torn tail that
 * recovery will cut is reported but is not corruption), 3 when it is corrupt.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { NodeFileLayer } from '../wal/file-layer.js';
import { inspectDataDir } from '../wal/inspect.js';
import { colorsFor } from './colors.js';
import { dumpRecords } from './dump-records.js';

const help = `Usage: baton inspect --data-dir DIR [NAME] [--json] [--dump]

Lists the WAL of a data directory: segments (base LSN, bytes, batches, index files) and logs
(offsets, records, bytes), verifying every batch's CRC. With NAME, only that log and the
segments holding it. Read-only; safe beside a running broker.

  --dump   also print the records (of NAME, or of every log): queue messages and topic
           records decoded (id or key, headers, body as JSON, UTF-8 or hex), other records
           as key/headers/value
  --json   the report as one JSON document

Exit status: 0 sound, 3 corruption found (file and byte offset printed).`;

export const EXIT_CORRUPT = 3;

export async function runInspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      dump: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const dataDir = values['data-dir'];
  if (dataDir === undefined) throw new InvalidArgumentError(`inspect needs --data-dir DIR\n\n${help}`);
  if (positionals.length > 1) throw new InvalidArgumentError('inspect takes at most one log NAME');
  const report = await inspectDataDir(new NodeFileLayer(), dataDir, positionals[0]);
  const corrupt = report.problems.some((p) => p.kind === 'corruption');
  if (values.dump && values.json) throw new InvalidArgumentError('inspect: --dump and --json do not go together');
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return corrupt ? EXIT_CORRUPT : 0;
  }
  const out: string[] = [];
  const cp = report.checkpoint;
  out.push(`data dir ${report.dataDir}`);
  out.push(cp === null ? 'checkpoint: none' : `checkpoint: segment ${cp.segmentBaseLsn} trusted to byte ${cp.position}, next LSN ${cp.nextLsn}, writer epoch ${cp.writerEpoch}, ${cp.clean ? 'clean close' : 'not closed cleanly'}`);
  out.push('');
  out.push('segment                    base LSN     end LSN        bytes   batches   records  indexes');
  for (const s of report.segments) {
    out.push(`${s.file}  ${String(s.baseLsn).padStart(10)}  ${String(s.endLsn).padStart(10)}  ${String(s.bytes).padStart(11)}  ${String(s.batches).padStart(8)}  ${String(s.records).padStart(8)}  ${s.indexes}`);
  }
  out.push('');
  out.push('log                              first offset  last offset     records       bytes  segments  ack batches');
  for (const l of report.logs) {
    out.push(`${l.name.padEnd(32)} ${String(l.firstOffset).padStart(12)}  ${String(l.lastOffset).padStart(11)}  ${String(l.records).padStart(10)}  ${String(l.bytes).padStart(10)}  ${String(l.segments).padStart(8)}  ${String(l.ackBatches).padStart(11)}`);
    // Opaque batches are not decoded: their messages are counted in `records`, their bodies summed here.
    if (l.opaqueBatches > 0 || l.deliveryBatches > 0) {
      out.push(`  ${l.opaqueBatches} opaque batch(es): opaque, ${l.opaqueMessages} messages, ${l.opaqueBytes} bytes; ${l.deliveryBatches} delivery-count batch(es)`);
    }
  }
  out.push('');
  out.push(`CRC checked: ${(report.bytesScanned / 1e6).toFixed(1)} MB at ${report.mbPerSec.toFixed(0)} MB/s`);
  for (const p of report.problems) {
    out.push(p.kind === 'corruption' ? `CORRUPT: ${p.file} at byte offset ${p.position}: ${p.reason}` : `torn tail (not corruption; recovery truncates it): ${p.file} at byte offset ${p.position}: ${p.reason}`);
  }
  if (report.problems.length === 0) out.push('no problems found');
  process.stdout.write(`${out.join('\n')}\n`);
  if (values.dump) {
    process.stdout.write('\nrecords:\n');
    await dumpRecords(new NodeFileLayer(), dataDir, positionals[0], (line) => process.stdout.write(`${line}\n`), colorsFor(process.stdout));
  }
  return corrupt ? EXIT_CORRUPT : 0;
}
