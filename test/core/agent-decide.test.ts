import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAgentGroup, type AgentGroupInput } from '../../src/core/agent-decide.js';
import { GroupIdSchema, NodeIdSchema } from '../../src/domain/ids.js';
import type { Assignment, FailureRecord } from '../../src/domain/state.js';

const n1 = NodeIdSchema.parse('n1');
const n2 = NodeIdSchema.parse('n2');
const web = GroupIdSchema.parse('web');

const assigned = (active: typeof n1 | null, epoch = 4): Assignment => ({ group: web, epoch, active, standbys: [], transition: null, updatedAt: 0 });
const failure = (epoch: number): FailureRecord => ({ group: web, node: n1, epoch, at: 0, reason: 'crash loop' });

function input(over: Partial<AgentGroupInput> = {}): AgentGroupInput {
  return {
    now: 10_000,
    self: n1,
    leaseValidUntil: 10_500,
    leaseSuspect: false,
    maintenance: false,
    assignment: assigned(n1),
    failure: undefined,
    runningHere: false,
    ...over,
  };
}

describe('decideAgentGroup', () => {
  test('assigned here with a valid lease: run active at the assignment epoch', () => {
    const d = decideAgentGroup(input());
    assert.deepEqual(d.target, { kind: 'active', epoch: 4 });
    assert.equal(d.rule, 'run-active');
  });

  test('lease belief expired: stop, even in maintenance and even when assigned here', () => {
    for (const maintenance of [false, true]) {
      const d = decideAgentGroup(input({ leaseValidUntil: 10_000, maintenance, runningHere: true }));
      assert.deepEqual(d.target, { kind: 'stopped' });
      assert.equal(d.code, 'LEASE_NOT_VALID');
    }
  });

  test('the deadline itself is already too late (strictly before it only)', () => {
    assert.equal(decideAgentGroup(input({ leaseValidUntil: 10_001 })).rule, 'run-active');
    assert.equal(decideAgentGroup(input({ leaseValidUntil: 10_000 })).rule, 'self-fence');
  });

  test('no lease at all: stop', () => {
    assert.equal(decideAgentGroup(input({ leaseValidUntil: null })).code, 'LEASE_NOT_VALID');
  });

  test('maintenance: leave resources as they are', () => {
    assert.deepEqual(decideAgentGroup(input({ maintenance: true })).target, { kind: 'unmanaged' });
  });

  test('assigned elsewhere, moving, or not placed: stopped here', () => {
    assert.deepEqual(decideAgentGroup(input({ assignment: assigned(n2) })).target, { kind: 'stopped' });
    assert.match(decideAgentGroup(input({ assignment: assigned(n2) })).message, /active on n2/);
    const moving: Assignment = { ...assigned(null), transition: { kind: 'switchover', from: n1, to: n2, startedAt: 0, reason: 'op' } };
    assert.match(decideAgentGroup(input({ assignment: moving })).message, /switchover/);
    assert.equal(decideAgentGroup(input({ assignment: undefined })).code, 'NOT_ASSIGNED');
  });

  test('gave up here at this epoch: stay stopped; an older failure does not count', () => {
    assert.equal(decideAgentGroup(input({ failure: failure(4) })).code, 'FAILED_HERE');
    assert.equal(decideAgentGroup(input({ failure: failure(3) })).rule, 'run-active');
  });

  test('event loop stalled: no new start, but what runs keeps running', () => {
    assert.equal(decideAgentGroup(input({ leaseSuspect: true, runningHere: false })).code, 'LEASE_SUSPECT');
    assert.equal(decideAgentGroup(input({ leaseSuspect: true, runningHere: true })).rule, 'run-active');
  });
});
