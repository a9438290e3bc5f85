import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type PlanInput } from '../../src/core/plan.js';
import { candidateNodes } from '../../src/domain/config.js';
import { parseRevision, type GroupId, type NodeId } from '../../src/domain/ids.js';
import type { Assignment, GroupStatus, TransitionKind } from '../../src/domain/state.js';
import { aCluster, applyDecision, g, n, T0, writesOf, type GroupSpec } from './builders.js';

/** mulberry32: small, seeded, good enough to generate snapshots. */
function prng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => {
      const x = xs[int(0, xs.length - 1)];
      if (x === undefined) throw new Error('pick from an empty list');
      return x;
    },
    chance: (p: number) => next() < p,
  };
}

type Rng = ReturnType<typeof prng>;

const STATES: readonly GroupStatus['state'][] = ['running', 'starting', 'recovering', 'stopping', 'stopped', 'failed'];
const ROLES: readonly GroupStatus['role'][] = ['active', 'standby', 'none'];
const KINDS: readonly TransitionKind[] = ['switchover', 'failover', 'evacuate', 'failback', 'recover'];
const FAILURE_TIMEOUT_MS = 60_000;

function shuffled<T>(r: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    const a = out[i];
    const b = out[j];
    if (a === undefined || b === undefined) continue;
    out[i] = b;
    out[j] = a;
  }
  return out;
}

function randomSnapshot(r: Rng): PlanInput {
  const nodes = ['n1', 'n2', 'n3', 'n4'].slice(0, r.int(2, 4));
  const groups = ['web', 'db'].slice(0, r.int(1, 2));
  const b = aCluster().withNodes(...nodes);
  for (const group of groups) {
    const spec: GroupSpec = {
      redundancy: r.pick(['none', 'active-standby', 'n-way'] as const),
      failback: r.pick(['manual', 'auto'] as const),
      failureTimeoutMs: FAILURE_TIMEOUT_MS,
      ...(r.chance(0.3) ? { preferredNodes: shuffled(r, nodes).slice(0, r.int(1, nodes.length)) } : {}),
      ...(r.chance(0.3) ? { standbys: r.int(0, 3) } : {}),
    };
    b.withGroup(group, spec);
  }
  const anyNode = [...nodes, 'n9'];
  for (const node of nodes) {
    if (r.chance(0.7)) b.withSession(node);
    if (r.chance(0.15)) b.withStandbyNode(node);
    if (r.chance(0.08)) b.withNodeMaintenance(node);
  }
  if (r.chance(0.04)) b.withClusterMaintenance();
  for (const group of [...groups, ...(r.chance(0.1) ? ['gone'] : [])]) {
    if (r.chance(0.05)) b.withGroupMaintenance(group);
    const epoch = r.int(1, 5);
    if (r.chance(0.85)) {
      const shape = r.next();
      const standbys = shuffled(r, nodes).slice(0, r.int(0, 2));
      if (shape < 0.6) b.withAssignment(group, { active: r.pick(anyNode), epoch, standbys });
      else if (shape < 0.9) {
        b.withAssignment(group, { active: null, epoch, standbys, transition: { kind: r.pick(KINDS), from: r.pick(anyNode), to: r.chance(0.3) ? null : r.pick(anyNode) } });
      } else b.withAssignment(group, { active: null, epoch, standbys });
    }
    for (const node of nodes) {
      if (r.chance(0.6)) b.withStatus(node, group, { state: r.pick(STATES), epoch: Math.max(0, epoch + r.int(-1, 1)), role: r.pick(ROLES) });
      if (r.chance(0.15)) b.withFailure(group, node, T0 - r.int(0, 2 * FAILURE_TIMEOUT_MS));
    }
    if (r.chance(0.2)) b.withMove(group, r.pick(['switchover', 'failover'] as const), r.chance(0.25) ? null : r.pick(anyNode));
  }
  return b.build();
}

/** Reference definitions, written independently of src/core. */
function releasedRef(input: PlanInput, node: NodeId, group: GroupId, epoch: number): boolean {
  if (!input.sessions.has(node)) return true;
  const st = input.status.get(node)?.get(group);
  return st !== undefined && (st.state === 'stopped' || st.state === 'failed') && st.epoch >= epoch;
}

function eligibleRef(input: PlanInput, group: GroupId, node: NodeId): boolean {
  const cfg = input.config.groups.find((x) => x.name === group);
  if (cfg === undefined || !candidateNodes(input.config, cfg).includes(node)) return false;
  if (!input.sessions.has(node) || input.standbyNodes.has(node) || input.maintenance.nodes.has(node)) return false;
  return !input.failures.some((f) => f.value.group === group && f.value.node === node && f.value.at + cfg.recovery.failureTimeoutMs > input.now);
}

function checkSnapshot(input: PlanInput, seed: number): number {
  const out = plan(input);
  const ctx = (msg: string) => `seed ${seed}: ${msg}\ninput assignments: ${JSON.stringify([...input.assignments.values()].map((v) => v.value))}`;
  let newActives = 0;
  if (input.maintenance.cluster) assert.ok(out.decisions.every((d) => d.actions.length === 0), ctx('actions under cluster maintenance'));
  for (const d of out.decisions) {
    if (input.maintenance.groups.has(d.group)) assert.deepEqual(d.actions, [], ctx('actions under group maintenance'));
    const cur = input.assignments.get(d.group);
    const holder = cur?.value.active ?? cur?.value.transition?.from ?? null;
    if (holder !== null && input.maintenance.nodes.has(holder)) assert.deepEqual(writesOf(d), [], ctx(`write while holder ${holder} is in maintenance`));
    const ws = writesOf(d);
    assert.ok(ws.length <= 1, ctx('more than one assignment write'));
    for (const w of ws) {
      const next: Assignment = w.assignment;
      assert.equal(w.expect, cur?.revision ?? 'absent', ctx('CAS expectation'));
      assert.ok(next.active === null || next.transition === null, ctx('active and transition both set'));
      assert.ok(next.active === null || !next.standbys.includes(next.active), ctx('active listed as standby'));
      // Writes that name an active recompute the standbys; a transition start carries them over.
      if (next.active !== null) for (const s of next.standbys) assert.ok(eligibleRef(input, d.group, s), ctx(`ineligible standby ${s}`));
      if (next.active === null) {
        // Starting a transition: only from a named active, same epoch.
        assert.ok(cur !== undefined && cur.value.active !== null, ctx('transition started without an active'));
        assert.equal(next.transition?.from, cur.value.active, ctx('transition from'));
        assert.equal(next.epoch, cur.value.epoch, ctx('transition changed the epoch'));
      } else if (next.active === cur?.value.active) {
        // Same active: a standby rewrite, or a retry on the same node after its failure expired.
        assert.ok(next.epoch === cur.value.epoch || next.epoch === cur.value.epoch + 1, ctx('epoch jump'));
      } else {
        // SAFETY: a newly named active.
        newActives += 1;
        assert.equal(next.epoch, (cur?.value.epoch ?? 0) + 1, ctx('new active without epoch + 1'));
        if (holder !== null && holder !== next.active) {
          assert.ok(releasedRef(input, holder, d.group, cur?.value.epoch ?? 0), ctx(`new active ${next.active} while ${holder} has not released`));
        }
        for (const [node, groups] of input.status) {
          if (node === next.active || !input.sessions.has(node)) continue;
          const st = groups.get(d.group);
          const running = st !== undefined && st.role === 'active' && st.state !== 'stopped' && st.state !== 'failed';
          assert.ok(!running, ctx(`new active ${next.active} while ${node} still reports the group active`));
        }
        assert.ok(eligibleRef(input, d.group, next.active), ctx(`new active ${next.active} is not eligible`));
      }
    }
  }
  return newActives;
}

describe('SAFETY over generated snapshots', () => {
  for (const seed of [1, 2, 3, 42, 2024]) {
    test(`seed ${seed}: a new active is written only after the previous holder released the group`, () => {
      const r = prng(seed);
      let newActives = 0;
      for (let i = 0; i < 3000; i++) newActives += checkSnapshot(randomSnapshot(r), seed * 100_000 + i);
      // The generator must actually reach the interesting case, or this test proves nothing.
      assert.ok(newActives > 100, `only ${newActives} new actives generated`);
    });
  }
});

/**
 * A small closed-loop run: honest agents (stop before reporting stopped; fence when their lease
 * goes), random faults and operator requests, the controller applying its own writes. After every
 * step at most one node runs the group active.
 */
describe('SAFETY in a closed loop with honest agents', () => {
  interface NodeModel {
    running: boolean;
    failedEpoch: number;
  }

  function run(seed: number, steps: number): { activations: number } {
    const r = prng(seed);
    const nodes = ['n1', 'n2', 'n3'];
    const group = g('web');
    let input = aCluster()
      .withNodes(...nodes)
      .withGroup('web', { failback: r.chance(0.5) ? 'auto' : 'manual', redundancy: r.pick(['none', 'active-standby', 'n-way'] as const), failureTimeoutMs: 30_000 })
      .withAllSessions()
      .build();
    const model = new Map<NodeId, NodeModel>(nodes.map((x) => [n(x), { running: false, failedEpoch: -1 }]));
    const sessionTemplate = input.sessions;
    let lastEpoch = 0;
    let activations = 0;

    const setStatus = (node: NodeId, st: GroupStatus | undefined) => {
      const status = new Map(input.status);
      if (st === undefined) status.delete(node);
      else status.set(node, new Map([[group, st]]));
      input = { ...input, status };
    };
    const report = (node: NodeId, state: GroupStatus['state'], role: GroupStatus['role'], epoch: number) =>
      setStatus(node, { node, group, epoch, role, state, resources: [], updatedAt: input.now, detail: '' });

    for (let step = 0; step < steps; step++) {
      const node = n(r.pick(nodes));
      const m = model.get(node);
      if (m === undefined) throw new Error('unknown node');
      const a = input.assignments.get(group)?.value;
      const roll = r.next();
      if (roll < 0.35) {
        const d = plan(input).decisions.find((x) => x.group === group);
        if (d !== undefined) input = applyDecision(input, d);
      } else if (roll < 0.7) {
        // agent reconcile on `node`
        if (input.sessions.has(node) && a !== undefined) {
          const mine = a.active === node && a.epoch > m.failedEpoch && !input.maintenance.nodes.has(node);
          if (mine && !m.running) {
            m.running = true;
            activations += 1;
          }
          if (!mine && m.running) m.running = false;
          if (m.failedEpoch >= a.epoch) report(node, 'failed', 'none', a.epoch);
          else report(node, m.running ? 'running' : 'stopped', m.running ? 'active' : 'none', a.epoch);
        }
      } else if (roll < 0.78) {
        // lease lost: the agent stopped its resources before the lease expired; its keys go with it
        m.running = false;
        const sessions = new Map(input.sessions);
        sessions.delete(node);
        input = { ...input, sessions };
        setStatus(node, undefined);
      } else if (roll < 0.86) {
        const s = sessionTemplate.get(node);
        if (s !== undefined) input = { ...input, sessions: new Map(input.sessions).set(node, s) };
      } else if (roll < 0.9) {
        // the recovery ladder gives up on this node
        if (m.running && a !== undefined) {
          m.running = false;
          m.failedEpoch = a.epoch;
          input = { ...input, failures: [...input.failures.filter((f) => f.value.node !== node), { revision: parseRevision(500_000 + step), value: { group, node, epoch: a.epoch, at: input.now, reason: 'sim' } }] };
          report(node, 'failed', 'none', a.epoch);
        }
      } else if (roll < 0.94) {
        const moves = new Map(input.moves);
        const to = r.chance(0.3) ? null : n(r.pick(nodes));
        moves.set(group, { revision: parseRevision(1_000_000 + step), value: { id: `m${step}`, kind: r.pick(['switchover', 'failover'] as const), to, at: input.now, by: 'sim' } });
        input = { ...input, moves };
      } else if (roll < 0.97) {
        const standbyNodes = new Set(input.standbyNodes);
        if (standbyNodes.has(node)) standbyNodes.delete(node);
        else standbyNodes.add(node);
        input = { ...input, standbyNodes };
      } else {
        input = { ...input, now: input.now + r.int(1_000, 20_000) };
      }
      const runningNow = [...model].filter(([, x]) => x.running).map(([k]) => k);
      assert.ok(runningNow.length <= 1, `seed ${seed} step ${step}: active on ${runningNow.join(', ')}`);
      const epoch = input.assignments.get(group)?.value.epoch ?? 0;
      assert.ok(epoch >= lastEpoch, `seed ${seed} step ${step}: epoch went back from ${lastEpoch} to ${epoch}`);
      lastEpoch = epoch;
    }
    return { activations };
  }

  for (const seed of [7, 11, 13, 17, 19]) {
    test(`seed ${seed}: never two nodes active`, () => {
      const { activations } = run(seed, 4000);
      assert.ok(activations > 20, `only ${activations} activations: the run did not exercise failover`);
    });
  }
});
