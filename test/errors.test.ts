// Proves that the error contract users match on holds: every code has a class, every class
// carries its code, errors survive a thread crossing as the same class, and docs/errors.md
// lists exactly the codes the code defines.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatonError, deserializeError, errorClassByCode, serializeError } from '../src/errors.js';

describe('errors', () => {
  it('errors - every code maps to a class that carries it', () => {
    for (const [code, ErrorClass] of Object.entries(errorClassByCode)) {
      const error = new ErrorClass('message', { cause: new Error('inner') });
      expect(error).toBeInstanceOf(BatonError);
      expect(error.code).toBe(code);
      expect(error.name).toBe(ErrorClass.name);
      expect((error.cause as Error).message).toBe('inner');
    }
  });

  it('errors - docs/errors.md lists exactly the codes in src/errors.ts', () => {
    const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...docs.matchAll(/^\| `(BATON_[A-Z_]+)` \| `(\w+)` \|/gm)].map((m) => [m[1], m[2]]);
    const defined = Object.entries(errorClassByCode).map(([code, ErrorClass]) => [code, ErrorClass.name]);
    expect(documented.sort()).toEqual(defined.sort());
  });

  it('errors - a Baton error crossing a thread comes back as the same class with its stack', async () => {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', (e) => parentPort.postMessage(e));`,
      { eval: true },
    );
    const original = new errorClassByCode.BATON_QUEUE_FULL!('queue "q" is full');
    worker.postMessage(serializeError(original));
    const echoed = await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    const rebuilt = deserializeError(echoed as ReturnType<typeof serializeError>);
    expect(rebuilt).toBeInstanceOf(errorClassByCode.BATON_QUEUE_FULL);
    expect((rebuilt as BatonError).code).toBe('BATON_QUEUE_FULL');
    expect(rebuilt.message).toBe('queue "q" is full');
    expect(rebuilt.stack).toBe(original.stack);
  });

  it('errors - an unknown code keeps its code as a plain Error', () => {
    const rebuilt = deserializeError(serializeError(Object.assign(new Error('boom'), { code: 'EIO' })));
    expect(rebuilt).not.toBeInstanceOf(BatonError);
    expect((rebuilt as Error & { code: string }).code).toBe('EIO');
    expect(serializeError('plain string')).toEqual({ code: 'ERR_UNKNOWN', message: 'plain string' });
  });
});
