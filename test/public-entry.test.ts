// Proves the package's one way in: `import ... from 'baton'` resolves through package.json's
// exports to the compiled entry, and the runtime started from it runs an actor end to end.
import { describe, expect, it } from 'vitest';

describe('public entry', () => {
  it('entry - the package name resolves to the compiled entry with the runtime and the errors', async () => {
    const baton = await import('baton');
    expect(typeof baton.ActorRuntime.start).toBe('function');
    expect(new baton.NotFoundError('x').code).toBe('BATON_NOT_FOUND');
    const runtime = await baton.ActorRuntime.start({ workers: 1 });
    try {
      const module = new URL('../dist/workers/fixtures/counter-actor.js', import.meta.url).href;
      await runtime.declare('entry', { module });
      await runtime.send('entry', 1, Uint8Array.of(5, 0, 0, 0));
      const reply = await runtime.request('entry', 2, new Uint8Array(0));
      expect(JSON.parse(new TextDecoder().decode(reply.payload))).toMatchObject({ count: 1, sum: 5 });
    } finally {
      await runtime.close();
    }
  });
});
