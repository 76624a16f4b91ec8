// Proves that storage failures are fatal for the writer (fsyncgate): an EIO on fdatasync or an
// ENOSPC part-way through a write fails the appends in that round and every later one with
// BATON_STORAGE_FAILED, confirms nothing after the failure, and that reopening recovers exactly
// what is on disk: every confirmed record, in order, and a torn tail cut off.
import { describe, expect, it } from 'vitest';
import { FaultyFileLayer } from '../../src/wal/faulty-file-layer.js';
import { NodeFileLayer } from '../../src/wal/file-layer.js';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text, values } from './helpers.js';

interface Outcome {
  value: string;
  confirmed: boolean;
  error?: { code?: string };
}

/** Issues `count` appends in waves and records which were confirmed and which failed. */
async function appendWaves(wal: Wal, count: number): Promise<Outcome[]> {
  const log = await wal.openLog('f');
  const outcomes: Outcome[] = [];
  for (let wave = 0; wave < count / 10; wave++) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const value = `v${wave * 10 + i}`;
        try {
          // Records of uneven sizes, so that a half-done write is unlikely to end on a batch boundary.
          await log.append([text(value), text('.'.repeat((wave * 10 + i) % 7))]);
          outcomes.push({ value, confirmed: true });
        } catch (error) {
          outcomes.push({ value, confirmed: false, error: error as { code?: string } });
        }
      }),
    );
  }
  return outcomes;
}

async function reopenAndCheck(dir: string, outcomes: Outcome[]): Promise<{ present: string[]; wal: Wal }> {
  const wal = await Wal.open(dir);
  const present = (await values((await wal.openLog('f')).replay())).filter((v) => v.startsWith('v'));
  // What is on disk is a prefix of what was appended, in order, once ...
  const appended = outcomes.map((o) => o.value).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  expect(present).toEqual(appended.slice(0, present.length));
  // ... that holds every confirmed record.
  for (const o of outcomes) if (o.confirmed) expect(present).toContain(o.value);
  return { present, wal };
}

describe('wal faults', () => {
  it('wal faults - EIO on fdatasync fails that round and everything after it', async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { files: layer });
    // Let three rounds' syncs succeed, then the disk fails for good.
    layer.inject({ op: 'datasync', code: 'EIO', pathIncludes: '.log', skip: 3 });
    const outcomes = await appendWaves(wal, 60);
    const confirmed = outcomes.filter((o) => o.confirmed);
    const failed = outcomes.filter((o) => !o.confirmed);
    expect(confirmed.length).toBe(30);
    expect(failed.length).toBe(30);
    for (const f of failed) expect(f.error?.code).toBe('BATON_STORAGE_FAILED');
    // Nothing after the failure was confirmed: the confirmed ones are exactly the first waves.
    expect(confirmed.map((o) => o.value).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
    expect((await (await wal.openLog('f')).append([text('late')]).catch((e: unknown) => e)) as object).toMatchObject({ code: 'BATON_STORAGE_FAILED' });
    await wal.close();
    const { wal: reopened } = await reopenAndCheck(dir, outcomes);
    await reopened.close();
  });

  it('wal faults - ENOSPC half-way through a write leaves a torn tail that recovery cuts', async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { files: layer });
    layer.inject({ op: 'write', code: 'ENOSPC', pathIncludes: '.log', skip: 2, partial: true });
    const outcomes = await appendWaves(wal, 40);
    expect(outcomes.filter((o) => o.confirmed).length).toBe(20);
    const failure = outcomes.find((o) => !o.confirmed)!.error as Error & { code: string; cause: { code: string } };
    expect(failure.code).toBe('BATON_STORAGE_FAILED');
    expect(failure.message).toContain('ENOSPC');
    await wal.close();
    const { present, wal: reopened } = await reopenAndCheck(dir, outcomes);
    expect(reopened.recovery.truncatedBytes).toBeGreaterThan(0);
    // The half that reached the disk kept its whole batches; they were never confirmed.
    expect(present.length).toBeGreaterThanOrEqual(20);
    expect(present.length).toBeLessThan(30);
    // The log is usable again once the disk is.
    await (await reopened.openLog('f')).append([text('after')]);
    await reopened.close();
  });

  it('wal faults - a failure while rolling to a new segment is fatal too', async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { files: layer, segmentBytesMax: 4096 });
    layer.inject({ op: 'open', code: 'EIO', pathIncludes: '.log' });
    const log = await wal.openLog('f');
    const results: Array<'ok' | string> = [];
    for (let i = 0; i < 60; i++) {
      results.push(await log.append([text(`x${i}`.padEnd(200, '.'))]).then(() => 'ok', (e: { code: string }) => e.code));
    }
    const firstFailure = results.indexOf('BATON_STORAGE_FAILED');
    expect(firstFailure).toBeGreaterThan(0);
    expect(results.slice(firstFailure).every((r) => r === 'BATON_STORAGE_FAILED')).toBe(true);
    await wal.close();
    const reopened = await Wal.open(dir);
    const present = await values((await reopened.openLog('f')).replay());
    expect(present.length).toBeGreaterThanOrEqual(firstFailure);
    await reopened.close();
  });

  it('wal faults - a failed checkpoint write stops the writer', async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { files: layer, checkpointIntervalBytes: 4096 });
    layer.inject({ op: 'rename', code: 'EIO', pathIncludes: 'checkpoint' });
    const log = await wal.openLog('f');
    let code = '';
    for (let i = 0; i < 100 && code === ''; i++) {
      await log.append([text('y'.repeat(500))]).catch((e: { code: string }) => {
        code = e.code;
      });
    }
    expect(code).toBe('BATON_STORAGE_FAILED');
    await wal.close();
  });
});
