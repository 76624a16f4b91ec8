// Proves what a caller gets when an actor does not answer: BATON_TIMEOUT once the request's time
// is up (swept, not a timer each), and, when the supervisor stops the actor, the stop's reason
// (BATON_NOT_FOUND) at once for every request waiting for it, not after their timeouts.
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { PendingRequests, SWEEP_MS } from '../../src/actor/pending-requests.js';

describe('requests waiting for an actor', () => {
  it('runtime - a request not answered in its time fails with BATON_TIMEOUT naming the actor', async () => {
    const pending = new PendingRequests<string>();
    const started = performance.now();
    const error = await pending.add(1, 'queue:slow', 64, undefined, 20).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BATON_TIMEOUT' });
    expect(String((error as Error).message)).toMatch(/queue:slow.*within 20 ms/);
    expect(performance.now() - started).toBeLessThan(20 + SWEEP_MS * 4);
    expect(pending.size).toBe(0);
  });

  it('runtime - a stopped actor fails only its own waiting requests, at once', async () => {
    const pending = new PendingRequests<string>();
    const a = pending.add(1, 'queue:a', 64, undefined, 60_000);
    const b = pending.add(2, 'queue:b', 128, undefined, 60_000);
    const a2 = pending.add(3, 'queue:a', 64, undefined, 60_000);
    pending.rejectActor('queue:a', new NotFoundError('actor "queue:a" stopped: it crashed 6 times'));
    await expect(a).rejects.toMatchObject({ code: 'BATON_NOT_FOUND', message: 'actor "queue:a" stopped: it crashed 6 times' });
    await expect(a2).rejects.toMatchObject({ code: 'BATON_NOT_FOUND' });
    expect(pending.size).toBe(1);
    pending.take(2, 128, 0)!.resolve('answer');
    await expect(b).resolves.toBe('answer');
    pending.rejectAll(new Error('closed'));
  });
});
