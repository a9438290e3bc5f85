import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffMs,
  initialLadder,
  observeExit,
  observeMonitor,
  recordRestart,
  type LadderState,
  type LadderStep,
  type LadderThresholds,
  type MonitorVerdict,
} from '../../src/core/ladder.js';
import type { RecoveryPolicy } from '../../src/domain/config.js';

const policy = (p: Partial<RecoveryPolicy> = {}): RecoveryPolicy => ({
  maxRestarts: 3,
  windowMs: 60_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5_000,
  failureTimeoutMs: 600_000,
  ...p,
});

const OK: MonitorVerdict = { kind: 'ok' };
const FAIL: MonitorVerdict = { kind: 'fail', detail: 'connection refused' };

/** Feed verdicts at the given times; return every step and the final state. */
function feed(
  s: LadderState,
  checks: readonly (readonly [number, MonitorVerdict])[],
  pol: RecoveryPolicy,
  th: LadderThresholds,
): { state: LadderState; steps: LadderStep['kind'][] } {
  const steps: LadderStep['kind'][] = [];
  let state = s;
  for (const [at, v] of checks) {
    const r = observeMonitor(state, 'm0', v, at, pol, th);
    state = r.state;
    steps.push(r.step.kind);
  }
  return { state, steps };
}

const th3 = { failureThreshold: 3, recoveryThreshold: 2 };

describe('failure threshold', () => {
  test('steps only when the consecutive failures reach the threshold', () => {
    const { state, steps } = feed(initialLadder, [[1000, FAIL], [2000, FAIL], [3000, FAIL]], policy(), th3);
    assert.deepEqual(steps, ['none', 'none', 'restart']);
    assert.equal(state.healthy, false);
    assert.deepEqual(state.monitors, { m0: { failures: 3, successes: 0 } });
  });

  test('stays healthy below the threshold', () => {
    const { state, steps } = feed(initialLadder, [[1000, FAIL], [2000, FAIL]], policy(), th3);
    assert.deepEqual(steps, ['none', 'none']);
    assert.equal(state.healthy, true);
  });

  test('a passing check resets the count', () => {
    const { steps } = feed(initialLadder, [[1000, FAIL], [2000, FAIL], [3000, OK], [4000, FAIL], [5000, FAIL]], policy(), th3);
    assert.deepEqual(steps, ['none', 'none', 'none', 'none', 'none']);
  });

  test('steps once per crossing, not on every later failing check', () => {
    const { steps } = feed(initialLadder, [[1000, FAIL], [2000, FAIL], [3000, FAIL], [4000, FAIL], [5000, FAIL]], policy(), th3);
    assert.deepEqual(steps, ['none', 'none', 'restart', 'none', 'none']);
  });

  test('threshold 1 steps on the first failure, with the monitor detail in the reason', () => {
    const r = observeMonitor(initialLadder, 'm0', FAIL, 1000, policy(), { failureThreshold: 1, recoveryThreshold: 1 });
    assert.deepEqual(r.step, { kind: 'restart', delayMs: 1000, attempt: 1, reason: 'monitor failed 1 time(s) in a row: connection refused; restart 1 of 3' });
  });
});

describe('several monitors on one resource', () => {
  test('a passing monitor does not reset another one\'s failure count', () => {
    const pol = policy();
    let s = initialLadder;
    const steps: string[] = [];
    for (const at of [1000, 2000, 3000]) {
      const ok = observeMonitor(s, 'port', OK, at, pol, th3);
      const hung = observeMonitor(ok.state, 'health', FAIL, at + 500, pol, th3);
      steps.push(ok.step.kind, hung.step.kind);
      s = hung.state;
    }
    assert.deepEqual(steps, ['none', 'none', 'none', 'none', 'none', 'restart']);
    assert.equal(s.healthy, false);
    assert.deepEqual(s.monitors, { port: { failures: 0, successes: 3 }, health: { failures: 3, successes: 0 } });
  });

  test('unhealthy stays unhealthy while another monitor still fails, however often one passes', () => {
    const th = { failureThreshold: 1, recoveryThreshold: 1 };
    const failed = observeMonitor(initialLadder, 'health', FAIL, 1000, policy(), th).state;
    const passing = observeMonitor(observeMonitor(failed, 'port', OK, 1100, policy(), th).state, 'port', OK, 1200, policy(), th).state;
    assert.equal(passing.healthy, false);
    assert.equal(observeMonitor(passing, 'health', OK, 1300, policy(), th).state.healthy, true);
  });
});

describe('recovery threshold', () => {
  test('unhealthy until recoveryThreshold checks pass in a row', () => {
    const failed = feed(initialLadder, [[1000, FAIL], [2000, FAIL], [3000, FAIL]], policy(), th3).state;
    const s1 = recordRestart(failed, 3000, policy());
    assert.equal(s1.healthy, false);
    const { state, steps } = feed(s1, [[4000, OK], [5000, FAIL], [6000, OK]], policy(), th3);
    assert.deepEqual(steps, ['none', 'none', 'none']);
    assert.equal(state.healthy, false, 'the failure in between restarted the success count');
    const after = observeMonitor(state, 'm0', OK, 7000, policy(), th3);
    assert.equal(after.state.healthy, true);
    assert.deepEqual(after.state.monitors.m0, { failures: 0, successes: 2 });
    assert.deepEqual(after.step, { kind: 'none' });
  });
});

describe('restarts, backoff and escalation', () => {
  test('each new crossing after a restart restarts again, with doubled delay', () => {
    const th = { failureThreshold: 2, recoveryThreshold: 1 };
    const pol = policy();
    let s = feed(initialLadder, [[1000, FAIL]], pol, th).state;
    let r = observeMonitor(s, 'm0', FAIL, 2000, pol, th);
    assert.deepEqual([r.step.kind, r.step.kind === 'restart' && r.step.delayMs], ['restart', 1000]);
    s = recordRestart(r.state, 3000, pol);
    assert.deepEqual(s.monitors, {});
    r = observeMonitor(s, 'm0', FAIL, 4000, pol, th);
    assert.deepEqual(r.step, { kind: 'none' });
    r = observeMonitor(r.state, 'm0', FAIL, 5000, pol, th);
    assert.equal(r.step.kind, 'restart');
    assert.equal(r.step.kind === 'restart' && r.step.delayMs, 2000);
    assert.equal(r.step.kind === 'restart' && r.step.attempt, 2);
  });

  test('backoff doubles per restart in the window and is capped at backoffMaxMs', () => {
    const pol = policy({ maxRestarts: 10, backoffInitialMs: 1000, backoffMaxMs: 5000 });
    let s = initialLadder;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const now = 1000 * (i + 1);
      const r = observeExit(s, 'exit code 1', now, pol);
      assert.equal(r.step.kind, 'restart');
      if (r.step.kind === 'restart') {
        delays.push(r.step.delayMs);
        assert.equal(r.step.attempt, i + 1);
      }
      s = recordRestart(r.state, now, pol);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000, 5000]);
    assert.deepEqual([1, 2, 3, 4].map((k) => backoffMs(k, pol)), [1000, 2000, 4000, 5000]);
  });

  test('zero initial backoff restarts at once every time', () => {
    const pol = policy({ backoffInitialMs: 0 });
    assert.deepEqual([1, 2, 3].map((k) => backoffMs(k, pol)), [0, 0, 0]);
  });

  test('escalates once maxRestarts restarts happened within the window', () => {
    const pol = policy({ maxRestarts: 3 });
    let s = initialLadder;
    const kinds: string[] = [];
    for (const now of [1000, 2000, 3000, 4000]) {
      const r = observeExit(s, 'killed by SIGSEGV', now, pol);
      kinds.push(r.step.kind);
      s = r.step.kind === 'restart' ? recordRestart(r.state, now, pol) : r.state;
    }
    assert.deepEqual(kinds, ['restart', 'restart', 'restart', 'escalate']);
    const last = observeExit(s, 'killed by SIGSEGV', 4500, pol);
    assert.deepEqual(last.step, { kind: 'escalate', reason: 'process exited: killed by SIGSEGV; 3 restart(s) within 60000ms already (limit 3)' });
  });

  test('restarts older than windowMs fall out of the window', () => {
    const pol = policy({ maxRestarts: 2, windowMs: 60_000 });
    let s = recordRestart(initialLadder, 0, pol);
    s = recordRestart(s, 10_000, pol);
    assert.equal(observeExit(s, 'exit 1', 59_999, pol).step.kind, 'escalate');
    // At 60 000 the restart at 0 is exactly windowMs old and no longer counts.
    const r = observeExit(s, 'exit 1', 60_000, pol);
    assert.deepEqual(r.step, { kind: 'restart', delayMs: 2000, attempt: 2, reason: 'process exited: exit 1; restart 2 of 2' });
    assert.deepEqual(r.state.restarts, [10_000]);
    // Much later, the window is empty again: first restart, initial backoff.
    const later = observeExit(recordRestart(r.state, 60_000, pol), 'exit 1', 200_000, pol);
    assert.deepEqual([later.step.kind, later.step.kind === 'restart' && later.step.delayMs], ['restart', 1000]);
    assert.deepEqual(later.state.restarts, []);
  });

  test('a passing monitor check also drops restarts that left the window', () => {
    const pol = policy({ windowMs: 10_000 });
    const s = recordRestart(recordRestart(initialLadder, 1000, pol), 5000, pol);
    assert.deepEqual(observeMonitor(s, 'm0', OK, 12_000, pol, th3).state.restarts, [5000]);
  });

  test('maxRestarts 0 escalates at once: on exit and on reaching the monitor threshold', () => {
    const pol = policy({ maxRestarts: 0 });
    assert.equal(observeExit(initialLadder, 'exit 2', 1000, pol).step.kind, 'escalate');
    const { steps } = feed(initialLadder, [[1000, FAIL], [2000, FAIL], [3000, FAIL]], pol, th3);
    assert.deepEqual(steps, ['none', 'none', 'escalate']);
  });

  test('a process exit needs no threshold and marks the resource unhealthy', () => {
    const r = observeExit(initialLadder, 'exit code 137', 1000, policy());
    assert.equal(r.state.healthy, false);
    assert.deepEqual(r.step, { kind: 'restart', delayMs: 1000, attempt: 1, reason: 'process exited: exit code 137; restart 1 of 3' });
  });
});
