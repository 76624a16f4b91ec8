// Proves the supervisor's decisions follow OTP's rules: every decision of SupervisorState, over
// random children (restart types, groups), strategies, policies and event sequences with random
// timestamps, equals that of a small model written here independently from OTP's rules; an
// actor is stopped and reported at exactly maxRestarts + 1 restarts within withinMs and never
// when failures are spaced wider; one_for_all restarts a group in start order without its
// temporary members; a host death is one failure of each actor on it; the lifecycle asserts on
// illegal transitions; bad options are BATON_INVALID_ARGUMENT. No clock is read anywhere.
import { AssertionError } from 'node:assert';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ActorLifecycle,
  type ExitReason,
  type LifecycleEvent,
  type RestartType,
  type Strategy,
  type SupervisorDecision,
  RestartIntensity,
  SupervisorState,
  decideHostExit,
  initialLifecycle,
  transition,
} from '../../src/actor/supervision.js';

const boom: ExitReason = { kind: 'error', error: { code: 'ERR_TEST', message: 'boom' } };
const REASONS: readonly ExitReason[] = [
  { kind: 'normal' },
  { kind: 'shutdown' },
  boom,
  { kind: 'host-exit', code: 1 },
  { kind: 'host-exit', code: 0 },
  { kind: 'host-error', error: { code: 'ERR_WORKER', message: 'x' } },
  { kind: 'host-oom' },
  { kind: 'host-stalled', heartbeatAgeMs: 5000 },
];

/** random() that always returns r: delays become exact, so tests compare numbers, not ranges. */
const constant = (r: number) => () => r;

// -------------------------------------------------------------------------------------------
// The model: OTP's rules, one small step each, with full restart history and linear scans.
// -------------------------------------------------------------------------------------------

type ModelState = 'starting' | 'running' | 'stopping' | 'restarting' | 'stopped';
interface ModelChild { id: string; restart: RestartType; group: string | null; st: ModelState; runningSinceMs: number }
interface ModelPolicy { strategy: Strategy; maxRestarts: number; withinMs: number; minMs: number; maxMs: number; randomFactor: number; resetAfterMs: number }
interface ModelScope { timesMs: number[]; attempt: number }

class Model {
  children: ModelChild[] = []; // start order
  scopes = new Map<string, ModelScope>();
  constructor(readonly p: ModelPolicy, readonly randoms: number[]) {}
  #nextRandom = 0;

  find(id: string) { return this.children.find((c) => c.id === id); }
  scopeKey(c: ModelChild) { return this.p.strategy === 'one_for_one' ? `child:${c.id}` : `group:${c.group}`; }

  add(id: string, restart: RestartType, group: string | null): 'ok' | 'throws' {
    const old = this.find(id);
    if (old && old.st !== 'stopped') return 'throws';
    if (old) this.remove(id);
    this.children.push({ id, restart, group, st: 'starting', runningSinceMs: NaN });
    return 'ok';
  }

  remove(id: string): boolean {
    const c = this.find(id);
    if (!c) return false;
    this.children = this.children.filter((x) => x !== c);
    this.scopes.delete(`child:${id}`);
    if (!this.children.some((x) => x.group === c.group)) this.scopes.delete(`group:${c.group}`);
    return true;
  }

  running(id: string, nowMs: number): boolean {
    const c = this.find(id);
    if (c?.st !== 'starting') return false;
    c.st = 'running';
    c.runningSinceMs = nowMs;
    return true;
  }

  starting(id: string): boolean {
    const c = this.find(id);
    if (c?.st !== 'restarting') return false;
    c.st = 'starting';
    return true;
  }

  stopping(id: string): boolean {
    const c = this.find(id);
    if (!c) return false;
    if (c.st === 'starting' || c.st === 'running') c.st = 'stopping';
    else if (c.st === 'restarting') c.st = 'stopped';
    else return false;
    return true;
  }

  exit(id: string, reason: ExitReason, nowMs: number): SupervisorDecision {
    const c = this.find(id);
    if (!c) return { action: 'ignore', why: 'unknown-child' };
    // An exit of an incarnation already restarted or stopped changes nothing.
    if (c.st === 'restarting' || c.st === 'stopped') return { action: 'ignore', why: 'stale' };
    const wasRunning = c.st === 'running';
    // Asked to stop: never restarted (OTP terminate_child).
    if (c.st === 'stopping') { c.st = 'stopped'; return { action: 'stop', children: [id], reason: 'requested' }; }
    // Temporary: never restarted.
    if (c.restart === 'temporary') { c.st = 'stopped'; return { action: 'stop', children: [id], reason: 'temporary' }; }
    // Transient: not restarted after normal or shutdown.
    const normal = reason.kind === 'normal' || reason.kind === 'shutdown';
    if (c.restart === 'transient' && normal) { c.st = 'stopped'; return { action: 'stop', children: [id], reason: 'transient-normal' }; }
    // The restart scope: the actor alone, or every live member of its group.
    const members = this.p.strategy === 'one_for_one' ? [c]
      : this.children.filter((x) => x.group === c.group && (x === c || x.st === 'starting' || x.st === 'running' || x.st === 'restarting'));
    const key = this.scopeKey(c);
    const scope = this.scopes.get(key) ?? { timesMs: [], attempt: 0 };
    this.scopes.set(key, scope);
    // Intensity: restarts in [now - withinMs, now], this one included, may not exceed maxRestarts.
    scope.timesMs.push(nowMs);
    const inWindow = scope.timesMs.filter((t) => t >= nowMs - this.p.withinMs).length;
    if (inWindow > this.p.maxRestarts) {
      for (const m of members) m.st = 'stopped';
      this.scopes.delete(key);
      return { action: 'stop', children: members.map((m) => m.id), reason: 'intensity' };
    }
    // Backoff: attempt 0 again after resetAfterMs running; the count stops at 31, where no delay grows.
    if (wasRunning && nowMs - c.runningSinceMs >= this.p.resetAfterMs) scope.attempt = 0;
    const attempt = scope.attempt;
    scope.attempt = Math.min(31, attempt + 1);
    const r = this.randoms[this.#nextRandom++ % this.randoms.length]!;
    const base = Math.min(this.p.maxMs, this.p.minMs * Math.pow(2, attempt));
    const delayMs = base * (1 + r * this.p.randomFactor);
    // Temporary members are stopped with the group, never restarted.
    const children: string[] = [];
    const stop: string[] = [];
    for (const m of members) {
      if (m.restart === 'temporary') { m.st = 'stopped'; stop.push(m.id); } else { m.st = 'restarting'; children.push(m.id); }
    }
    return { action: 'restart', children, stop, delayMs, restartAtMs: nowMs + delayMs, attempt };
  }
}

/** A decision as plain data, to compare with the model's (the report is checked elsewhere). */
function plain(d: SupervisorDecision): unknown {
  if (d.action === 'stop') return { action: d.action, children: [...d.children], reason: d.reason };
  if (d.action === 'restart') return { ...d, children: [...d.children], stop: [...d.stop] };
  return { ...d };
}

const restartTypeArb = fc.constantFrom<RestartType>('permanent', 'transient', 'temporary');
const policyArb = fc.record({
  strategy: fc.constantFrom<Strategy>('one_for_one', 'one_for_all'),
  maxRestarts: fc.integer({ min: 0, max: 4 }),
  withinMs: fc.integer({ min: 1, max: 1000 }),
  minMs: fc.integer({ min: 0, max: 100 }),
  maxMs: fc.integer({ min: 100, max: 5000 }),
  randomFactor: fc.constantFrom(0, 0.2, 1),
  resetAfterMs: fc.integer({ min: 0, max: 500 }),
});
const eventArb = fc.record({
  type: fc.constantFrom('exit', 'exit', 'exit', 'exit', 'running', 'running', 'starting', 'starting', 'stopping', 'add', 'remove', 'host'),
  child: fc.nat(5),
  reason: fc.constantFrom(...REASONS),
  dtMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1500 })),
  hostChildren: fc.uniqueArray(fc.nat(5), { maxLength: 4 }),
});

describe('supervision model', () => {
  it('supervision - every decision and lifecycle matches a model of OTP rules (fast-check)', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.record({ restart: restartTypeArb, group: fc.constantFrom<string | null>(null, 'a', 'b') }), { minLength: 1, maxLength: 5 }),
        fc.array(eventArb, { minLength: 20, maxLength: 120, size: 'max' }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 5 }),
        (p, specs, events, randoms) => {
          let i = 0;
          const random = () => randoms[i++ % randoms.length]!;
          const sut = new SupervisorState(
            { strategy: p.strategy, maxRestarts: p.maxRestarts, withinMs: p.withinMs, backoff: { minMs: p.minMs, maxMs: p.maxMs, randomFactor: p.randomFactor, resetAfterMs: p.resetAfterMs } },
            random,
          );
          const model = new Model(p, randoms);
          const specOf = (k: number) => specs[k % specs.length]!;
          const idOf = (k: number) => `c${k}`;
          for (let k = 0; k < specs.length; k++) {
            const { restart, group } = specOf(k);
            sut.addChild(idOf(k), group === null ? { restart } : { restart, group }, 0);
            model.add(idOf(k), restart, group);
          }
          let nowMs = 0;
          for (const e of events) {
            nowMs += e.dtMs;
            const id = idOf(e.child);
            switch (e.type) {
              case 'exit':
                expect(plain(sut.onExit(id, e.reason, nowMs))).toEqual(model.exit(id, e.reason, nowMs));
                break;
              case 'running':
                expect(sut.onRunning(id, nowMs)).toBe(model.running(id, nowMs));
                break;
              case 'starting':
                expect(sut.onStarting(id, nowMs)).toBe(model.starting(id));
                break;
              case 'stopping':
                expect(sut.onStopping(id, nowMs)).toBe(model.stopping(id));
                break;
              case 'remove':
                expect(sut.removeChild(id)).toBe(model.remove(id));
                break;
              case 'add': {
                const { restart, group } = specOf(e.child);
                const expected = model.add(id, restart, group);
                const add = () => sut.addChild(id, group === null ? { restart } : { restart, group }, nowMs);
                if (expected === 'throws') expect(add).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
                else add();
                break;
              }
              case 'host': {
                // A host death: each actor on it exits with the host's reason, in start order.
                const hostReason: ExitReason = { kind: 'host-exit', code: 1 };
                const ids = e.hostChildren.map(idOf);
                const order = model.children.map((c) => c.id);
                const inStartOrder = [...new Set(ids)].sort((a, b) => {
                  const ia = order.indexOf(a);
                  const ib = order.indexOf(b);
                  return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
                });
                const got = decideHostExit(sut, ids, hostReason, nowMs);
                expect(got.decisions.map((d) => ({ childId: d.childId, decision: plain(d.decision) }))).toEqual(
                  inStartOrder.map((childId) => ({ childId, decision: model.exit(childId, hostReason, nowMs) })),
                );
                break;
              }
              default:
                throw new Error(`unknown event ${e.type}`);
            }
            expect(sut.childIds()).toEqual(model.children.map((c) => c.id));
            for (const c of model.children) expect(sut.lifecycleOf(c.id)?.state).toBe(c.st);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

// -------------------------------------------------------------------------------------------
// Intensity at exactly maxRestarts + 1
// -------------------------------------------------------------------------------------------

/** Fails `id` once (after starting and running it again if it is restarting) at `nowMs`. */
function failAt(sut: SupervisorState, id: string, nowMs: number, reason: ExitReason = boom): SupervisorDecision {
  if (sut.lifecycleOf(id)?.state === 'restarting') sut.onStarting(id, nowMs);
  if (sut.lifecycleOf(id)?.state === 'starting') sut.onRunning(id, nowMs);
  return sut.onExit(id, reason, nowMs);
}

describe('supervision intensity', () => {
  for (const strategy of ['one_for_one', 'one_for_all'] as const) {
    for (const k of [0, 1, 5, 12]) {
      it(`intensity - ${strategy}, maxRestarts ${k}: ${k} failures within withinMs restart, failure ${k + 1} stops with reason intensity`, () => {
        const sut = new SupervisorState({ strategy, maxRestarts: k, withinMs: 30_000 }, constant(0));
        sut.addChild('q', { restart: 'permanent' }, 0);
        sut.addChild('sibling', { restart: 'permanent' }, 0);
        for (let n = 1; n <= k; n++) {
          const d = failAt(sut, 'q', n * 100);
          expect(d.action, `failure ${n}`).toBe('restart');
        }
        const last = failAt(sut, 'q', (k + 1) * 100);
        expect(last).toMatchObject({ action: 'stop', reason: 'intensity' });
        if (last.action !== 'stop') throw new Error('unreachable');
        expect(last.children).toEqual(strategy === 'one_for_one' ? ['q'] : ['q', 'sibling']);
        expect(last.report).toMatchObject({ failedChildId: 'q', restartsInWindow: k + 1, maxRestarts: k, withinMs: 30_000, reason: boom });
        expect(last.report?.message).toContain('"q"');
        expect(last.report?.message).toContain('boom');
        expect(sut.lifecycleOf('q')).toMatchObject({ state: 'stopped', why: 'intensity', reason: boom });
        // Stopped stays stopped: a late exit changes nothing.
        expect(sut.onExit('q', boom, 10_000)).toEqual({ action: 'ignore', why: 'stale' });
      });
    }
  }

  it('intensity - RestartIntensity used on its own (e.g. for hosts) keeps counting past a refusal like a full history, in bounded memory (fast-check)', () => {
    fc.assert(
      fc.property(fc.nat(6), fc.integer({ min: 1, max: 100 }), fc.array(fc.nat(60), { maxLength: 200 }), (maxRestarts, withinMs, gapsMs) => {
        const intensity = new RestartIntensity(maxRestarts, withinMs);
        const historyMs: number[] = [];
        let nowMs = 0;
        for (const gapMs of gapsMs) {
          nowMs += gapMs;
          historyMs.push(nowMs);
          const inWindow = historyMs.filter((t) => t >= nowMs - withinMs).length;
          const verdict = intensity.recordRestart(nowMs);
          expect(verdict.allowed).toBe(inWindow <= maxRestarts);
          expect(verdict.restartsInWindow).toBe(Math.min(inWindow, maxRestarts + 1));
          expect(intensity.restartsInWindow(nowMs)).toBe(Math.min(inWindow, maxRestarts + 1));
        }
      }),
    );
  });

  it('intensity - failures spaced wider than withinMs never stop the actor', () => {
    for (const maxRestarts of [1, 2, 5]) {
      const withinMs = 1000;
      const sut = new SupervisorState({ maxRestarts, withinMs }, constant(0.5));
      sut.addChild('q', { restart: 'permanent' }, 0);
      for (let n = 1; n <= 200; n++) expect(failAt(sut, 'q', n * (withinMs + 1)).action).toBe('restart');
    }
  });

  it('intensity - a restart exactly withinMs ago still counts (OTP keeps R >= now - period)', () => {
    const sut = new SupervisorState({ maxRestarts: 1, withinMs: 1000 }, constant(0));
    sut.addChild('q', { restart: 'permanent' }, 0);
    expect(failAt(sut, 'q', 0).action).toBe('restart');
    expect(failAt(sut, 'q', 1000).action).toBe('stop');
    const spaced = new SupervisorState({ maxRestarts: 1, withinMs: 1000 }, constant(0));
    spaced.addChild('q', { restart: 'permanent' }, 0);
    expect(failAt(spaced, 'q', 0).action).toBe('restart');
    expect(failAt(spaced, 'q', 1001).action).toBe('restart');
  });

  it('intensity - one_for_one counts per actor: a sibling failing as often is not stopped', () => {
    const sut = new SupervisorState({ maxRestarts: 2, withinMs: 10_000 }, constant(0));
    sut.addChild('a', { restart: 'permanent' }, 0);
    sut.addChild('b', { restart: 'permanent' }, 0);
    for (let n = 1; n <= 2; n++) {
      expect(failAt(sut, 'a', n).action).toBe('restart');
      expect(failAt(sut, 'b', n).action).toBe('restart');
    }
    expect(failAt(sut, 'a', 3)).toMatchObject({ action: 'stop', children: ['a'], reason: 'intensity' });
    expect(sut.lifecycleOf('b')?.state).toBe('restarting');
  });

  it('intensity - a stopped actor added again starts with no restart history', () => {
    const sut = new SupervisorState({ maxRestarts: 1, withinMs: 10_000 }, constant(0));
    sut.addChild('q', { restart: 'permanent' }, 0);
    expect(failAt(sut, 'q', 1).action).toBe('restart');
    expect(failAt(sut, 'q', 2).action).toBe('stop');
    sut.addChild('q', { restart: 'permanent' }, 3);
    expect(failAt(sut, 'q', 4)).toMatchObject({ action: 'restart', attempt: 0 });
  });

  it('intensity - a transient actor that stopped normally and is added again has no restart history', () => {
    const sut = new SupervisorState({ maxRestarts: 2, withinMs: 10_000 }, constant(0));
    sut.addChild('t', { restart: 'transient' }, 0);
    expect(failAt(sut, 't', 1)).toMatchObject({ action: 'restart', attempt: 0 });
    expect(failAt(sut, 't', 2)).toMatchObject({ action: 'restart', attempt: 1 });
    expect(failAt(sut, 't', 3, { kind: 'normal' })).toMatchObject({ action: 'stop', reason: 'transient-normal' });
    sut.addChild('t', { restart: 'transient' }, 4);
    expect(failAt(sut, 't', 5)).toMatchObject({ action: 'restart', attempt: 0 });
    expect(failAt(sut, 't', 6)).toMatchObject({ action: 'restart', attempt: 1 });
  });

  it('intensity - one_for_all: a group stopped for intensity comes back with no restart history', () => {
    const sut = new SupervisorState({ strategy: 'one_for_all', maxRestarts: 1, withinMs: 10_000 }, constant(0));
    sut.addChild('a', { restart: 'permanent' }, 0);
    sut.addChild('b', { restart: 'permanent' }, 0);
    expect(failAt(sut, 'a', 1)).toMatchObject({ action: 'restart', children: ['a', 'b'], attempt: 0 });
    expect(failAt(sut, 'a', 2)).toMatchObject({ action: 'stop', children: ['a', 'b'], reason: 'intensity' });
    // b is still registered (stopped), so the group lives on; its history must not.
    sut.addChild('a', { restart: 'permanent' }, 3);
    expect(failAt(sut, 'a', 4)).toMatchObject({ action: 'restart', children: ['a'], attempt: 0 });
  });
});

// -------------------------------------------------------------------------------------------
// Restart types and strategies, by example
// -------------------------------------------------------------------------------------------

describe('supervision restart types', () => {
  const cases: Array<[RestartType, ExitReason['kind'], SupervisorDecision['action'], string?]> = [
    ['permanent', 'normal', 'restart'],
    ['permanent', 'shutdown', 'restart'],
    ['permanent', 'error', 'restart'],
    ['permanent', 'host-oom', 'restart'],
    ['transient', 'normal', 'stop', 'transient-normal'],
    ['transient', 'shutdown', 'stop', 'transient-normal'],
    ['transient', 'error', 'restart'],
    ['transient', 'host-exit', 'restart'],
    ['transient', 'host-stalled', 'restart'],
    ['temporary', 'error', 'stop', 'temporary'],
    ['temporary', 'host-error', 'stop', 'temporary'],
    ['temporary', 'normal', 'stop', 'temporary'],
  ];
  for (const [restart, kind, action, why] of cases) {
    it(`restart types - ${restart} actor exiting with ${kind}: ${action}${why ? ` (${why})` : ''}`, () => {
      const sut = new SupervisorState({}, constant(0));
      sut.addChild('x', { restart }, 0);
      sut.onRunning('x', 1);
      const reason = REASONS.find((r) => r.kind === kind)!;
      const d = sut.onExit('x', reason, 2);
      expect(d.action).toBe(action);
      if (d.action === 'stop') expect(d.reason).toBe(why);
      if (d.action === 'restart') expect(d).toMatchObject({ children: ['x'], stop: [], attempt: 0, delayMs: 100, restartAtMs: 102 });
    });
  }

  it('restart types - a host exit with code 0 is abnormal: a transient actor restarts', () => {
    const sut = new SupervisorState({}, constant(0));
    sut.addChild('x', { restart: 'transient' }, 0);
    expect(sut.onExit('x', { kind: 'host-exit', code: 0 }, 1).action).toBe('restart');
  });

  it('restart types - a requested stop never restarts, even a permanent actor', () => {
    const sut = new SupervisorState({}, constant(0));
    sut.addChild('x', { restart: 'permanent' }, 0);
    sut.onRunning('x', 1);
    expect(sut.onStopping('x', 2)).toBe(true);
    expect(sut.onExit('x', boom, 3)).toEqual({ action: 'stop', children: ['x'], reason: 'requested' });
    expect(sut.lifecycleOf('x')).toMatchObject({ state: 'stopped', why: 'requested', reason: boom });
  });

  it('restart types - stopping an actor that waits out its backoff stops it at once; its timer then finds it stopped', () => {
    const sut = new SupervisorState({}, constant(0));
    sut.addChild('x', { restart: 'permanent' }, 0);
    expect(sut.onExit('x', boom, 1).action).toBe('restart');
    expect(sut.onStopping('x', 2)).toBe(true);
    expect(sut.lifecycleOf('x')).toMatchObject({ state: 'stopped', why: 'requested' });
    expect(sut.onStarting('x', 101)).toBe(false);
  });
});

describe('supervision one_for_all', () => {
  it('one_for_all - a failure restarts the live members of its group in start order, stops its temporary ones, and leaves other groups alone', () => {
    const sut = new SupervisorState({ strategy: 'one_for_all' }, constant(0));
    sut.addChild('p0', { restart: 'permanent', group: 'g' }, 0);
    sut.addChild('other', { restart: 'permanent', group: 'h' }, 0);
    sut.addChild('tmp', { restart: 'temporary', group: 'g' }, 0);
    sut.addChild('tr', { restart: 'transient', group: 'g' }, 0);
    sut.addChild('p1', { restart: 'permanent', group: 'g' }, 0);
    for (const id of sut.childIds()) sut.onRunning(id, 1);
    const d = sut.onExit('p1', boom, 2);
    expect(d).toEqual({ action: 'restart', children: ['p0', 'tr', 'p1'], stop: ['tmp'], delayMs: 100, restartAtMs: 102, attempt: 0 });
    expect(sut.lifecycleOf('tmp')).toMatchObject({ state: 'stopped', why: 'temporary' });
    expect(sut.lifecycleOf('p0')).toMatchObject({ state: 'restarting', failedChildId: 'p1', reason: boom, restartAtMs: 102 });
    expect(sut.lifecycleOf('other')?.state).toBe('running');
    // The siblings' exits, as the caller terminates them, are of incarnations already handled.
    expect(sut.onExit('p0', { kind: 'shutdown' }, 3)).toEqual({ action: 'ignore', why: 'stale' });
  });

  it('one_for_all - a temporary or transient-normal exit does not restart the group', () => {
    const sut = new SupervisorState({ strategy: 'one_for_all' }, constant(0));
    sut.addChild('tmp', { restart: 'temporary' }, 0);
    sut.addChild('tr', { restart: 'transient' }, 0);
    sut.addChild('p', { restart: 'permanent' }, 0);
    expect(sut.onExit('tmp', boom, 1)).toEqual({ action: 'stop', children: ['tmp'], reason: 'temporary' });
    expect(sut.onExit('tr', { kind: 'normal' }, 2)).toEqual({ action: 'stop', children: ['tr'], reason: 'transient-normal' });
    expect(sut.lifecycleOf('p')?.state).toBe('starting');
  });

  it('one_for_all - a member being stopped on request is not brought back by a group restart', () => {
    const sut = new SupervisorState({ strategy: 'one_for_all' }, constant(0));
    sut.addChild('a', { restart: 'permanent' }, 0);
    sut.addChild('b', { restart: 'permanent' }, 0);
    sut.onStopping('a', 1);
    expect(sut.onExit('b', boom, 2)).toMatchObject({ action: 'restart', children: ['b'] });
    expect(sut.onExit('a', { kind: 'shutdown' }, 3)).toEqual({ action: 'stop', children: ['a'], reason: 'requested' });
  });
});

describe('supervision host death', () => {
  const dead: ExitReason = { kind: 'host-exit', code: 137 };

  it('host death - one_for_one: every actor on the host restarts, whatever order the caller lists them in', () => {
    const run = (listed: string[]) => {
      const sut = new SupervisorState({}, constant(0));
      for (const id of ['a', 'b', 'c', 'elsewhere']) sut.addChild(id, { restart: id === 'c' ? 'temporary' : 'transient' }, 0);
      return decideHostExit(sut, listed, { kind: 'host-exit', code: 137 }, 5);
    };
    const got = run(['c', 'a', 'b']);
    expect(got).toEqual(run(['b', 'c', 'a', 'b']));
    expect(got.decisions.map((d) => d.childId)).toEqual(['a', 'b', 'c']);
    expect(got.restart).toEqual([
      { childId: 'a', delayMs: 100, attempt: 0 },
      { childId: 'b', delayMs: 100, attempt: 0 },
    ]);
    expect(got.stop).toEqual(['c']);
    expect(got.reports).toEqual([]);
  });

  it('host death - one_for_all: a group with two actors on the dead host restarts once, siblings elsewhere included', () => {
    const sut = new SupervisorState({ strategy: 'one_for_all', maxRestarts: 1 }, constant(0));
    for (const id of ['g1', 'g2', 'g3']) sut.addChild(id, { restart: 'permanent', group: 'g' }, 0);
    sut.addChild('h1', { restart: 'permanent', group: 'h' }, 0);
    const got = decideHostExit(sut, ['g3', 'g1', 'h1', 'unknown'], dead, 5);
    expect(got.decisions.map((d) => [d.childId, d.decision.action])).toEqual([
      ['g1', 'restart'],
      ['g3', 'ignore'],
      ['h1', 'restart'],
      ['unknown', 'ignore'],
    ]);
    expect(got.restart.map((r) => r.childId)).toEqual(['g1', 'g2', 'g3', 'h1']);
    // One host death is one restart of the group: the next failure is the second, over maxRestarts 1.
    for (const id of ['g1', 'g2', 'g3']) sut.onStarting(id, 200);
    const again = decideHostExit(sut, ['g2'], { kind: 'host-oom' }, 300);
    expect(again.stop).toEqual(['g1', 'g2', 'g3']);
    expect(again.reports[0]).toMatchObject({ failedChildId: 'g2', group: 'g', stoppedChildIds: ['g1', 'g2', 'g3'], restartsInWindow: 2 });
    expect(again.reports[0]?.message).toContain('out of memory');
  });

  it('host death - a reason that is not a host death is BATON_INVALID_ARGUMENT', () => {
    const sut = new SupervisorState();
    expect(() => decideHostExit(sut, [], boom as never, 0)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
  });
});

// -------------------------------------------------------------------------------------------
// Lifecycle state machine
// -------------------------------------------------------------------------------------------

describe('supervision lifecycle', () => {
  const at = (state: ActorLifecycle['state']): ActorLifecycle => {
    switch (state) {
      case 'starting':
        return initialLifecycle(0);
      case 'running':
        return { state, incarnation: 0, sinceMs: 0 };
      case 'stopping':
        return { state, incarnation: 0, sinceMs: 0 };
      case 'failed':
        return { state, incarnation: 0, reason: boom, atMs: 0 };
      case 'restarting':
        return { state, incarnation: 0, attempt: 0, restartAtMs: 100, reason: boom, failedChildId: 'x' };
      case 'stopped':
        return { state, why: 'requested', reason: null, atMs: 0 };
    }
  };
  const events: Record<LifecycleEvent['type'], LifecycleEvent> = {
    running: { type: 'running', nowMs: 1 },
    stop: { type: 'stop', nowMs: 1 },
    exit: { type: 'exit', reason: boom, nowMs: 1 },
    restart: { type: 'restart', attempt: 0, restartAtMs: 101, reason: boom, failedChildId: 'x' },
    start: { type: 'start', nowMs: 1 },
    'give-up': { type: 'give-up', why: 'temporary', nowMs: 1 },
    terminate: { type: 'terminate', why: 'temporary', nowMs: 1 },
  };
  // The diagram in docs/actors.md, as a table: state -> event -> next state.
  const legal: Record<ActorLifecycle['state'], Partial<Record<LifecycleEvent['type'], ActorLifecycle['state']>>> = {
    starting: { running: 'running', stop: 'stopping', exit: 'failed', restart: 'restarting', terminate: 'stopped' },
    running: { stop: 'stopping', exit: 'failed', restart: 'restarting', terminate: 'stopped' },
    stopping: { exit: 'stopped' },
    failed: { restart: 'restarting', 'give-up': 'stopped' },
    restarting: { stop: 'stopped', restart: 'restarting', start: 'starting', terminate: 'stopped' },
    stopped: {},
  };

  for (const [from, row] of Object.entries(legal) as Array<[ActorLifecycle['state'], (typeof legal)['starting']]>) {
    it(`lifecycle - from ${from}: the diagram's transitions succeed and every other one asserts`, () => {
      for (const [type, event] of Object.entries(events) as Array<[LifecycleEvent['type'], LifecycleEvent]>) {
        const to = row[type];
        if (to) {
          const next = transition(at(from), event);
          expect(next.state, `${from} --${type}-->`).toBe(to);
          expect(Object.isFrozen(next)).toBe(true);
        } else {
          expect(() => transition(at(from), event), `${from} --${type}-->`).toThrow(AssertionError);
        }
      }
    });
  }

  it('lifecycle - a restart starts a new incarnation; a stop requested while restarting has no exit to wait for', () => {
    const failed = transition(transition(initialLifecycle(0), { type: 'running', nowMs: 1 }), { type: 'exit', reason: boom, nowMs: 2 });
    const restarting = transition(failed, events.restart);
    expect(transition(restarting, { type: 'start', nowMs: 101 })).toEqual({ state: 'starting', incarnation: 1, sinceMs: 101 });
    expect(transition(restarting, { type: 'stop', nowMs: 50 })).toEqual({ state: 'stopped', why: 'requested', reason: null, atMs: 50 });
    expect(transition(failed, events['give-up'])).toEqual({ state: 'stopped', why: 'temporary', reason: boom, atMs: 1 });
  });
});

// -------------------------------------------------------------------------------------------
// Bad arguments
// -------------------------------------------------------------------------------------------

describe('supervision options', () => {
  const invalid = expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' });

  it('options - defaults are 5 restarts per 30 s, backoff 100 ms to 10 s with 0.2 jitter reset after 30 s, one_for_one', () => {
    expect(new SupervisorState().policy).toEqual({
      maxRestarts: 5,
      withinMs: 30_000,
      backoff: { minMs: 100, maxMs: 10_000, randomFactor: 0.2, resetAfterMs: 30_000 },
      strategy: 'one_for_one',
    });
  });

  const bad: Array<[string, unknown]> = [
    ['maxRestarts -1', { maxRestarts: -1 }],
    ['maxRestarts 1.5', { maxRestarts: 1.5 }],
    ['maxRestarts NaN', { maxRestarts: Number.NaN }],
    ['maxRestarts over the bound', { maxRestarts: 1e9 }],
    ['maxRestarts as a string', { maxRestarts: '5' }],
    ['withinMs 0', { withinMs: 0 }],
    ['withinMs Infinity', { withinMs: Number.POSITIVE_INFINITY }],
    ['strategy rest_for_one', { strategy: 'rest_for_one' }],
    ['an unknown option (intensity)', { intensity: 3 }],
    ['backoff minMs -1', { backoff: { minMs: -1 } }],
    ['backoff maxMs below minMs', { backoff: { minMs: 500, maxMs: 100 } }],
    ['backoff randomFactor 1.5', { backoff: { randomFactor: 1.5 } }],
    ['backoff randomFactor -0.1', { backoff: { randomFactor: -0.1 } }],
    ['backoff resetAfterMs -5', { backoff: { resetAfterMs: -5 } }],
    ['backoff past setTimeout range', { backoff: { maxMs: 2_000_000_000, randomFactor: 0.2 } }],
    ['an unknown backoff option', { backoff: { factor: 2 } }],
    ['options that are not an object', 5],
  ];
  for (const [what, options] of bad) {
    it(`options - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(() => new SupervisorState(options as never)).toThrow(invalid);
    });
  }

  it('options - bad children and times are BATON_INVALID_ARGUMENT with a message saying what to do', () => {
    const sut = new SupervisorState();
    expect(() => sut.addChild('', { restart: 'permanent' })).toThrow(invalid);
    expect(() => sut.addChild('x', { restart: 'sometimes' as never })).toThrow(invalid);
    expect(() => sut.addChild('x', { restart: 'permanent', group: '' })).toThrow(invalid);
    sut.addChild('x', { restart: 'permanent' }, 10);
    expect(() => sut.addChild('x', { restart: 'permanent' }, 10)).toThrow(/already supervised/);
    expect(() => sut.onExit('x', boom, 9)).toThrow(/monotonic clock/);
    expect(() => sut.onRunning('x', Number.NaN)).toThrow(invalid);
  });
});
