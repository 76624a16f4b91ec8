// Proves the broker's options are validated once, on the caller's thread, before any thread
// starts: every bad value and every unknown key is BATON_INVALID_ARGUMENT naming the option, and
// the resolved form carries every default the threads use.
import { describe, expect, it } from 'vitest';
import { Broker } from 'baton';
import { HOST_HEAP_MB_DEFAULT, resolveRuntimeOptions } from '../../src/actor/runtime-options.js';

describe('runtime options', () => {
  it('options - defaults are filled in once, backoffMs is short for backoff', () => {
    const resolved = resolveRuntimeOptions({ workers: 2, supervisor: { maxRestarts: 2, backoffMs: [5, 50] } });
    expect(resolved).toMatchObject({
      workers: 2,
      fsync: 'always',
      segmentBytesMax: 64 * 1024 * 1024,
      compactionIntervalMs: 30_000,
      hostHeapMb: HOST_HEAP_MB_DEFAULT,
      stallTimeoutMs: 2000,
      placement: 'hash',
      storageFaults: false,
      supervisor: { maxRestarts: 2, backoff: { minMs: 5, maxMs: 50 } },
    });
    expect(resolved.memoryLimitBytes % (64 * 1024 * 1024)).toBe(0);
  });

  it.each([
    [{ workers: 0 }, /workers must be an integer 1 \.\. 256/],
    [{ fsync: 'sometimes' }, /fsync must be/],
    [{ segmentBytesMax: 100 }, /segmentBytesMax/],
    [{ hostHeapMb: 8 }, /hostHeapMb must be an integer 16/],
    [{ compactionIntervalMs: -1 }, /compactionIntervalMs/],
    [{ memoryLimitBytes: 100 * 1024 * 1024 }, /multiple of 64 MiB/],
    [{ stallTimeoutMs: 10 }, /stallTimeoutMs/],
    [{ placement: 'random' }, /placement must be/],
    [{ supervisor: { backoffMs: [1] } }, /backoffMs must be \[minMs, maxMs\]/],
    [{ dataDir: '' }, /dataDir must be a directory path/],
    [{ worker: 2 }, /unknown broker option "worker"/],
  ])('options - %j is refused with BATON_INVALID_ARGUMENT naming it', (options, message) => {
    expect(() => resolveRuntimeOptions(options as never)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it('options - Broker.start refuses a bad option before starting a thread', async () => {
    await expect(Broker.start({ workers: 1, hostHeapMb: 4 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Broker.start({ workers: 1, fsyncInterval: 5 } as never)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringMatching(/fsyncInterval/) });
  });
});
