// Proves the memory-only file layer behaves as a sparse file: against a plain byte-array model,
// random writes (across its 1 MiB chunk boundaries and past the end), truncates that shrink
// and extend, and reads anywhere return the same bytes and counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryFileLayer } from '../../src/wal/memory-file-layer.js';

const MIB = 1 << 20;
const position = fc.oneof(fc.integer({ min: 0, max: 3 * MIB }), fc.integer({ min: MIB - 64, max: MIB + 64 }), fc.integer({ min: 0, max: 5000 }));
const operation = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), at: position, length: fc.integer({ min: 1, max: 3000 }), fill: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('read' as const), at: position, length: fc.integer({ min: 1, max: 5000 }) }),
);

describe('memory file layer', () => {
  it('memory file layer - matches a byte-array model under writes, truncates and reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
        const layer = new MemoryFileLayer();
        await layer.mkdir('/m');
        const file = await layer.open('/m/f', 'create-new');
        let model = new Uint8Array(0);
        for (const op of operations) {
          if (op.kind === 'write') {
            const bytes = new Uint8Array(op.length).fill(op.fill);
            expect(await file.write(bytes, 0, bytes.length, op.at)).toBe(bytes.length);
            if (op.at + op.length > model.length) {
              const grown = new Uint8Array(op.at + op.length);
              grown.set(model);
              model = grown;
            }
            model.set(bytes, op.at);
          } else if (op.kind === 'truncate') {
            await file.truncate(op.at);
            const resized = new Uint8Array(op.at);
            resized.set(model.subarray(0, Math.min(op.at, model.length)));
            model = resized;
          } else {
            const target = new Uint8Array(op.length).fill(7);
            const n = await file.read(target, 0, op.length, op.at);
            const expected = model.subarray(op.at, op.at + op.length);
            expect(n).toBe(expected.length);
            expect(Buffer.from(target.subarray(0, n)).equals(Buffer.from(expected))).toBe(true);
          }
          expect(await file.size()).toBe(model.length);
        }
        const whole = await layer.readFile('/m/f');
        expect(Buffer.from(whole!).equals(Buffer.from(model))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
