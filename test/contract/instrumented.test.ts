import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { ManualClock } from '../../src/platform/clock.js';
import { InstrumentedCoordinator } from '../../src/observability/instrumented-coordinator.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { coordinatorContract } from './coordinator.contract.js';

/** The metrics wrapper must be invisible: the whole contract holds through it. */
coordinatorContract('instrumented memory (manual clock)', async () => {
  const clock = new ManualClock();
  const inner = new MemoryCoordinator({ clock, historyLimit: 50 });
  const coord = new InstrumentedCoordinator(inner, createMetrics());
  return {
    coord,
    historyLimit: 50,
    advance: async (ms: number) => {
      clock.advance(ms);
      inner.expireLeases();
    },
    cleanup: () => coord.close(),
  };
});

test('every request is timed with its operation and outcome', async () => {
  const seen: [string, number, string][] = [];
  let t = 0;
  const inner = new MemoryCoordinator({ clock: new ManualClock() });
  const coord = new InstrumentedCoordinator(inner, { observeCoordRequest: (op, ms, outcome) => seen.push([op, ms, outcome]) }, () => (t += 5));
  await coord.put('/a', '1');
  await coord.get('/a');
  inner.setUnavailable(true);
  await assert.rejects(coord.get('/a'));
  assert.deepEqual(seen, [
    ['put', 5, 'ok'],
    ['get', 5, 'ok'],
    ['get', 5, 'error'],
  ]);
});
