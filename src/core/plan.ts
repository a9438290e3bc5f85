import type { GroupConfig, HaloConfig } from '../domain/config.js';
import { candidateNodes } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';
import type { GroupId, NodeId, Revision } from '../domain/ids.js';
import type {
  Assignment,
  ClusterEvent,
  DrainReport,
  FailureRecord,
  GroupStatus,
  MirrorSyncRecord,
  MoveIntent,
  NodeSession,
  TransitionKind,
} from '../domain/state.js';
import { describeIneligibility, eligibleNodes, isReleased, whyIneligible, type EligibilityView } from './eligibility.js';
import { describeLoss, mirrorLoss } from './mirror.js';

/**
 * The controller's placement plan: a pure function from one snapshot of the store (plus the
 * configuration and `now`) to compare-and-swap writes, one decision per group.
 *
 * Each group runs through an ordered ladder of small named rules; the first rule that returns an
 * outcome wins, and the order of `groupRules` is the specification. Safety comes first: nothing
 * happens under maintenance, and a group never gets a new active node until the previous one has
 * released it (see `isReleased`). Every write of a new active goes through `activate`, which
 * enforces that in one place.
 */

/** A record read from the store, with the modRevision it was read at (for compare-and-swap). */
export interface Versioned<T> {
  readonly value: T;
  readonly revision: Revision;
}

export interface PlanInput {
  /** Wall-clock epoch milliseconds, as read by the driver. */
  readonly now: number;
  /** The controller's node (for the journal). */
  readonly self: NodeId;
  readonly config: HaloConfig;
  /** Nodes whose session lease is live. */
  readonly sessions: ReadonlyMap<NodeId, NodeSession>;
  readonly assignments: ReadonlyMap<GroupId, Versioned<Assignment>>;
  readonly status: ReadonlyMap<NodeId, ReadonlyMap<GroupId, GroupStatus>>;
  readonly failures: readonly Versioned<FailureRecord>[];
  readonly maintenance: {
    readonly cluster: boolean;
    readonly groups: ReadonlySet<GroupId>;
    readonly nodes: ReadonlySet<NodeId>;
  };
  /** Nodes drained by an operator. */
  readonly standbyNodes: ReadonlySet<NodeId>;
  readonly moves: ReadonlyMap<GroupId, Versioned<MoveIntent>>;
  /** Endpoint drain reports, per group and node (see DrainReport). */
  readonly drains: ReadonlyMap<GroupId, ReadonlyMap<NodeId, DrainReport>>;
  /** mirror/<group>/<resource> records (absent: no mirror resource has served). */
  readonly mirrors?: ReadonlyMap<GroupId, readonly MirrorSyncRecord[]>;
}

/**
 * Writes the driver performs, each as one compare-and-swap transaction. A failed compare means the
 * snapshot was stale: the driver drops the rest of that group's actions and plans again.
 */
export type ControllerAction =
  | {
      readonly kind: 'writeAssignment';
      readonly group: GroupId;
      readonly assignment: Assignment;
      readonly expect: Revision | 'absent';
      /** Delete intents/move/<group> in the same transaction, compared at this revision. */
      readonly consumeMove?: Revision;
    }
  /** The group was removed from the configuration. */
  | { readonly kind: 'deleteAssignment'; readonly group: GroupId; readonly expect: Revision }
  /** The failure record's timeout has passed (or its group is gone). */
  | { readonly kind: 'deleteFailure'; readonly group: GroupId; readonly node: NodeId; readonly expect: Revision }
  /** The requested move cannot be carried out: delete the intent and record why. */
  | { readonly kind: 'rejectMove'; readonly group: GroupId; readonly expect: Revision; readonly reason: string };

/** Stable reason codes; the CLI's `why` and the console show them. */
export const ReasonCodes = [
  'MAINTENANCE',
  'NODE_MAINTENANCE',
  'WAITING_FOR_RELEASE',
  'NO_ELIGIBLE_NODE',
  /** Only nodes missing acknowledged writes of a sync mirror could take the group. */
  'WAITING_FOR_MIRROR',
  'TRANSITION_COMPLETED',
  'NODE_LOST',
  'WAITING_FOR_NODE',
  'GROUP_FAILED',
  'WAITING_FOR_CLEANUP',
  'RETRY_AFTER_FAILURE',
  'MOVE_STARTED',
  'DRAINING',
  'DRAINED',
  'DRAIN_TIMEOUT',
  'MOVE_PLACED',
  'MOVE_REJECTED',
  'EVACUATING',
  'DRAINED_NO_TARGET',
  'FAILBACK',
  'PLACED',
  'STANDBYS_UPDATED',
  'CONVERGED',
  'GROUP_REMOVED',
] as const;
export type ReasonCode = (typeof ReasonCodes)[number];

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

/** An event without its timestamp; the driver stamps `at` when it writes it. */
export type ClusterEventDraft = Omit<ClusterEvent, 'at'>;

export interface GroupDecision {
  readonly group: GroupId;
  /** Name of the rule that decided. */
  readonly rule: string;
  readonly reason: Reason;
  /** In order; housekeeping (expired failure records) comes last. */
  readonly actions: ControllerAction[];
  readonly events: ClusterEventDraft[];
  /** Plan again after this long even if nothing in the store changes. */
  readonly recheckAfterMs?: number;
}

export interface PlanOutput {
  readonly decisions: GroupDecision[];
  /** The smallest recheck of all decisions, if any. */
  readonly recheckAfterMs?: number;
}

/** What a rule sees: one group in one snapshot. */
export interface GroupContext {
  readonly input: PlanInput;
  readonly view: EligibilityView;
  readonly group: GroupConfig;
  readonly current: Versioned<Assignment> | undefined;
  readonly move: Versioned<MoveIntent> | undefined;
  /** Eligible nodes, best first. */
  readonly eligible: readonly NodeId[];
}

export interface RuleOutcome {
  readonly reason: Reason;
  readonly actions?: ControllerAction[];
  readonly events?: ClusterEventDraft[];
  readonly recheckAfterMs?: number;
}

export interface GroupRule {
  readonly name: string;
  readonly decide: (ctx: GroupContext) => RuleOutcome | undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const wait = (code: ReasonCode, message: string, recheckAfterMs?: number): RuleOutcome =>
  recheckAfterMs === undefined ? { reason: { code, message } } : { reason: { code, message }, recheckAfterMs };

/**
 * NO_ELIGIBLE_NODE, or WAITING_FOR_MIRROR naming the mirror when a node would be eligible but for
 * a sync mirror's in-sync set (so `halo why` says the group waits for data, not for nodes).
 */
function noEligible(ctx: GroupContext, message: string, except?: NodeId): RuleOutcome {
  for (const n of candidateNodes(ctx.input.config, ctx.group)) {
    if (n === except) continue;
    const why = whyIneligible(ctx.view, ctx.group, n);
    if (why?.kind === 'mirror-behind') {
      return wait('WAITING_FOR_MIRROR', `${message}: ${describeIneligibility(n, why, ctx.input.now)}`, ctx.input.config.timing.reconcileIntervalMs);
    }
  }
  return wait('NO_ELIGIBLE_NODE', message);
}

/** Events recording what a failover to `to` may lose on mirrors that are not in sync there. */
function lossEvents(ctx: GroupContext, to: NodeId, epoch: number): ClusterEventDraft[] {
  return mirrorLoss(ctx.group, to, ctx.input.mirrors?.get(ctx.group.name)).map((l) => ({
    kind: 'mirror-data-loss',
    node: to,
    group: ctx.group.name,
    resource: l.resource,
    epoch,
    message: describeLoss(l, ctx.input.now),
    loss: { bytes: l.bytes, sinceAt: l.sinceAt, asOfAt: l.asOfAt, upperBound: l.upperBound },
  }));
}

function released(ctx: GroupContext, node: NodeId): boolean {
  const epoch = ctx.current?.value.epoch ?? 0;
  return isReleased(node, ctx.group.name, epoch, ctx.input.sessions, ctx.input.status);
}

function waitForRelease(ctx: GroupContext, node: NodeId, what: string): RuleOutcome {
  return wait('WAITING_FOR_RELEASE', `${what}: waiting for "${node}" to stop the group`, ctx.input.config.timing.reconcileIntervalMs);
}

/**
 * A node other than `except` that holds a live session and still reports the group running in the
 * active role. Defence in depth: the assignment alone says who should be active; this says who may
 * still be.
 */
function stillActiveElsewhere(ctx: GroupContext, except: NodeId): NodeId | undefined {
  for (const [node, groups] of ctx.input.status) {
    if (node === except || !ctx.input.sessions.has(node)) continue;
    const st = groups.get(ctx.group.name);
    if (st !== undefined && st.role === 'active' && st.state !== 'stopped' && st.state !== 'failed') return node;
  }
  return undefined;
}

/** Ranked standbys for a group whose active node is `active`. */
export function desiredStandbys(ctx: GroupContext, active: NodeId): NodeId[] {
  const others = ctx.eligible.filter((n) => n !== active);
  switch (ctx.group.redundancy) {
    case 'none':
      return [];
    case 'active-standby':
      return others.slice(0, 1);
    case 'n-way':
      return ctx.group.standbys === undefined ? others : others.slice(0, ctx.group.standbys);
    default:
      return assertNever(ctx.group.redundancy);
  }
}

const sameList = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function event(ctx: GroupContext, kind: ClusterEventDraft['kind'], node: NodeId | null, epoch: number | null, message: string): ClusterEventDraft {
  return { kind, node, group: ctx.group.name, resource: null, message, epoch };
}

/**
 * The only way a rule names a new active node. SAFETY: the new active gets epoch + 1, and is
 * written only if the previous holder (the active, or the node a transition moves away from) has
 * released the group, and no other live node still reports the group running active. Otherwise
 * the outcome is to wait. Whatever the rule, the events record what the new active's copy of each
 * mirror may lack (lossEvents): a group that failed on its node, or is placed after a stop, can
 * lose async data as surely as one whose node was lost.
 */
function activate(
  ctx: GroupContext,
  target: NodeId,
  how: { readonly code: ReasonCode; readonly message: string; readonly events: (epoch: number) => ClusterEventDraft[]; readonly consumeMove?: Revision },
): RuleOutcome {
  const cur = ctx.current;
  const prev = cur?.value.active ?? cur?.value.transition?.from ?? null;
  if (prev !== null && prev !== target && !released(ctx, prev)) return waitForRelease(ctx, prev, how.message);
  const holdout = stillActiveElsewhere(ctx, target);
  if (holdout !== undefined) return waitForRelease(ctx, holdout, how.message);
  const epoch = (cur?.value.epoch ?? 0) + 1;
  const assignment: Assignment = {
    group: ctx.group.name,
    epoch,
    active: target,
    standbys: desiredStandbys(ctx, target),
    transition: null,
    updatedAt: ctx.input.now,
  };
  const write: ControllerAction =
    how.consumeMove === undefined
      ? { kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur?.revision ?? 'absent' }
      : { kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur?.revision ?? 'absent', consumeMove: how.consumeMove };
  return { reason: { code: how.code, message: how.message }, actions: [write], events: [...how.events(epoch), ...lossEvents(ctx, target, epoch)] };
}

/**
 * How long a planned move of the group drains its endpoints first: the longest drainTimeoutMs of
 * its endpoints; 0 (no drain phase) when it has none.
 */
export function drainTimeoutOf(group: GroupConfig): number {
  return group.endpoints.reduce((m, e) => Math.max(m, e.drainTimeoutMs), 0);
}

/**
 * Start a graceful move away from the current active: active becomes null until it is released.
 * A planned move of a group with endpoints first drains them: `active` stays on the old node and
 * `transition.drainUntil` is set (rule 'drain' then releases the group).
 */
function startTransition(
  ctx: GroupContext,
  cur: Versioned<Assignment>,
  t: { readonly kind: TransitionKind; readonly from: NodeId; readonly to: NodeId | null; readonly reason: string },
  code: ReasonCode,
  consumeMove?: Revision,
): RuleOutcome {
  const drainMs = PLANNED.has(t.kind) ? drainTimeoutOf(ctx.group) : 0;
  const base = { kind: t.kind, from: t.from, to: t.to, startedAt: ctx.input.now, reason: t.reason };
  const assignment: Assignment =
    drainMs > 0
      ? { ...cur.value, transition: { ...base, drainUntil: ctx.input.now + drainMs }, updatedAt: ctx.input.now }
      : { ...cur.value, active: null, transition: base, updatedAt: ctx.input.now };
  const write: ControllerAction =
    consumeMove === undefined
      ? { kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur.revision }
      : { kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur.revision, consumeMove };
  const to = t.to === null ? 'the best eligible node' : `"${t.to}"`;
  const draining = drainMs > 0 ? `; draining endpoints for up to ${drainMs} ms` : '';
  return { reason: { code, message: `${t.kind} from "${t.from}" to ${to} started: ${t.reason}${draining}` }, actions: [write] };
}

/** Live nodes whose endpoints have not yet reported this drain (sorted). */
export function pendingDrains(ctx: GroupContext, epoch: number, startedAt: number): NodeId[] {
  const reports = ctx.input.drains.get(ctx.group.name);
  return [...ctx.input.sessions.keys()]
    .filter((n) => {
      const r = reports?.get(n);
      return r === undefined || r.epoch !== epoch || r.startedAt !== startedAt;
    })
    .sort();
}

const PLANNED: ReadonlySet<TransitionKind> = new Set<TransitionKind>(['switchover', 'evacuate', 'failback']);

// ---------------------------------------------------------------------------------------------
// The ladder

/** a. Cluster or group maintenance: hands off entirely. */
const maintenanceRule: GroupRule = {
  name: 'maintenance',
  decide: (ctx) => {
    const m = ctx.input.maintenance;
    if (m.cluster) return wait('MAINTENANCE', 'the cluster is in maintenance');
    if (m.groups.has(ctx.group.name)) return wait('MAINTENANCE', 'the group is in maintenance');
    return undefined;
  },
};

/**
 * Node maintenance on the node that holds the group (its active, or the node a transition moves
 * it from): leave the group alone. The agent there does not manage it, so it may keep running even
 * if that node's session is lost; moving it would risk two actives.
 */
const nodeMaintenanceRule: GroupRule = {
  name: 'node-maintenance',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    const holder = cur?.active ?? cur?.transition?.from ?? null;
    if (holder === null || !ctx.input.maintenance.nodes.has(holder)) return undefined;
    return wait('NODE_MAINTENANCE', `node "${holder}" is in maintenance; the group is left where it is`);
  },
};

/** c. A move is in progress: finish it once the old node has released the group. */
const transitionRule: GroupRule = {
  name: 'transition',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    const t = cur?.transition ?? null;
    if (cur === undefined || cur.active !== null || t === null) return undefined;
    if (!released(ctx, t.from)) return waitForRelease(ctx, t.from, `${t.kind} in progress`);
    let target: NodeId | undefined;
    if (t.to !== null && ctx.eligible.includes(t.to)) target = t.to;
    else {
      const leaveFrom = t.kind === 'switchover' || t.kind === 'failover' || t.kind === 'evacuate';
      const pool = leaveFrom ? ctx.eligible.filter((n) => n !== t.from) : ctx.eligible;
      target = pool[0] ?? ctx.eligible[0];
    }
    if (target === undefined) {
      return noEligible(ctx, `${t.kind} from "${t.from}": "${t.from}" released the group but no node is eligible to take it`);
    }
    const to = target;
    const planned = PLANNED.has(t.kind);
    return activate(ctx, to, {
      code: 'TRANSITION_COMPLETED',
      message: `${t.kind} from "${t.from}" to "${to}": "${t.from}" released the group`,
      events: (epoch) => [event(ctx, planned ? 'switched-over' : 'failed-over', to, epoch, `${t.kind} from ${t.from} to ${to} (${t.reason})`)],
    });
  },
};

/** d. The active node lost its session: its lease expired, so it has fenced itself. */
const activeLostRule: GroupRule = {
  name: 'active-lost',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    const x = cur?.active ?? null;
    if (cur === undefined || x === null || ctx.input.sessions.has(x)) return undefined;
    if (ctx.group.redundancy === 'none') {
      return wait('WAITING_FOR_NODE', `active node "${x}" has no live session; redundancy "none" waits for it to return`);
    }
    const target = ctx.eligible[0];
    if (target === undefined) return noEligible(ctx, `active node "${x}" has no live session and no node is eligible to take over`, x);
    return activate(ctx, target, {
      code: 'NODE_LOST',
      message: `active node "${x}" has no live session; failing over to "${target}"`,
      events: (epoch) => [
        event(ctx, 'node-lost', x, cur.epoch, `node ${x} lost its session while active for ${ctx.group.name}`),
        event(ctx, 'failed-over', target, epoch, `failed over from ${x} to ${target}: node lost`),
      ],
    });
  },
};

/**
 * e. The active node gave up on the group (its recovery ladder escalated). It stays ineligible
 * through its failure record; if no other node is eligible the group returns to it only once that
 * record has expired or been cleaned up.
 */
const activeFailedRule: GroupRule = {
  name: 'active-failed',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    const x = cur?.active ?? null;
    if (cur === undefined || x === null) return undefined;
    const st = ctx.input.status.get(x)?.get(ctx.group.name);
    if (st === undefined || st.state !== 'failed' || st.epoch < cur.epoch) return undefined;
    const selfEligible = ctx.eligible.includes(x);
    const other = ctx.group.redundancy === 'none' ? undefined : ctx.eligible.find((n) => n !== x);
    if (other !== undefined) {
      return activate(ctx, other, {
        code: 'GROUP_FAILED',
        message: `the group failed on "${x}" (${st.detail}); failing over to "${other}"`,
        events: (epoch) => [event(ctx, 'failed-over', other, epoch, `failed over from ${x} to ${other}: group failed (${st.detail})`)],
      });
    }
    if (selfEligible) {
      return activate(ctx, x, {
        code: 'RETRY_AFTER_FAILURE',
        message: `the group failed on "${x}" and its failure record is gone; starting it there again`,
        events: (epoch) => [event(ctx, 'group-placed', x, epoch, `placed on ${x} again after its failure expired`)],
      });
    }
    if (ctx.group.redundancy === 'none') {
      return wait('WAITING_FOR_CLEANUP', `the group failed on "${x}"; redundancy "none" waits for the failure to expire or be cleaned up`);
    }
    return wait('NO_ELIGIBLE_NODE', `the group failed on "${x}" and no other node is eligible`);
  },
};

/**
 * A planned move is draining the group's endpoints: the old active keeps running while every
 * node's endpoints hold new connections and let in-flight ones finish there. Once every live node
 * reported drained (or the drain deadline passed), release the group: `active` becomes null and
 * rule 'transition' completes the move as usual. Nodes without a session need not report.
 */
const drainRule: GroupRule = {
  name: 'drain',
  decide: (ctx) => {
    const cur = ctx.current;
    const t = cur?.value.transition ?? null;
    if (cur === undefined || cur.value.active === null || t === null || t.drainUntil === undefined) return undefined;
    const now = ctx.input.now;
    const pending = pendingDrains(ctx, cur.value.epoch, t.startedAt);
    if (pending.length > 0 && now < t.drainUntil) {
      const left = t.drainUntil - now;
      return wait(
        'DRAINING',
        `${t.kind} from "${t.from}": waiting for the endpoints on ${pending.map((n) => `"${n}"`).join(', ')} to drain (at most ${left} ms more)`,
        Math.min(left, ctx.input.config.timing.reconcileIntervalMs),
      );
    }
    const assignment: Assignment = {
      ...cur.value,
      active: null,
      transition: { kind: t.kind, from: t.from, to: t.to, startedAt: t.startedAt, reason: t.reason },
      updatedAt: now,
    };
    const reason: Reason =
      pending.length === 0
        ? { code: 'DRAINED', message: `${t.kind} from "${t.from}": every node's endpoints drained; releasing the group` }
        : { code: 'DRAIN_TIMEOUT', message: `${t.kind} from "${t.from}": drain deadline passed with ${pending.map((n) => `"${n}"`).join(', ')} not drained; releasing the group` };
    return { reason, actions: [{ kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur.revision }] };
  },
};

/** f. An operator asked to move the group: validate, then start the transition (consuming the intent). */
const moveRule: GroupRule = {
  name: 'move',
  decide: (ctx) => {
    const mv = ctx.move;
    if (mv === undefined) return undefined;
    const intent = mv.value;
    const cur = ctx.current;
    const x = cur?.value.active ?? null;
    const reject = (why: string): RuleOutcome => ({
      reason: { code: 'MOVE_REJECTED', message: `${intent.kind} requested by ${intent.by} rejected: ${why}` },
      actions: [{ kind: 'rejectMove', group: ctx.group.name, expect: mv.revision, reason: why }],
    });
    if (intent.to !== null) {
      if (intent.to === x) return reject(`the group is already active on "${x}"`);
      const why = whyIneligible(ctx.view, ctx.group, intent.to);
      if (why !== undefined) return reject(describeIneligibility(intent.to, why, ctx.input.now));
    }
    if (cur === undefined || x === null) {
      // Nothing runs (rule 'transition' handles the in-between state): a plain placement.
      const target = intent.to ?? ctx.eligible[0];
      if (target === undefined) return reject('no node is eligible for the group');
      return activate(ctx, target, {
        code: 'MOVE_PLACED',
        message: `${intent.kind} requested by ${intent.by}: the group is not active anywhere; placing it on "${target}"`,
        events: (epoch) => [event(ctx, 'group-placed', target, epoch, `placed on ${target} (${intent.kind} requested by ${intent.by})`)],
        consumeMove: mv.revision,
      });
    }
    if (intent.to === null && !ctx.eligible.some((n) => n !== x)) return reject(`no eligible node other than "${x}"`);
    return startTransition(ctx, cur, { kind: intent.kind, from: x, to: intent.to, reason: `requested by ${intent.by} (${intent.id})` }, 'MOVE_STARTED', mv.revision);
  },
};

/** g. The active node was drained, or is no longer one of the group's nodes: evacuate it. */
const drainedRule: GroupRule = {
  name: 'drained',
  decide: (ctx) => {
    const cur = ctx.current;
    const x = cur?.value.active ?? null;
    if (cur === undefined || x === null) return undefined;
    const drained = ctx.input.standbyNodes.has(x);
    const candidate = candidateNodes(ctx.input.config, ctx.group).includes(x);
    if (!drained && candidate) return undefined;
    const why = drained ? `node "${x}" is drained` : `node "${x}" is no longer one of the group's nodes`;
    const target = ctx.eligible.find((n) => n !== x);
    if (target === undefined) return wait('DRAINED_NO_TARGET', `${why} but no other node is eligible; the group stays`);
    return startTransition(ctx, cur, { kind: 'evacuate', from: x, to: target, reason: why }, 'EVACUATING');
  },
};

/** h. failback: auto — return to a more preferred node once it is eligible again. */
const failbackRule: GroupRule = {
  name: 'failback',
  decide: (ctx) => {
    const cur = ctx.current;
    const x = cur?.value.active ?? null;
    if (ctx.group.failback !== 'auto' || cur === undefined || x === null || !ctx.eligible.includes(x)) return undefined;
    const best = ctx.eligible[0];
    if (best === undefined || best === x) return undefined;
    return startTransition(ctx, cur, { kind: 'failback', from: x, to: best, reason: `"${best}" is preferred and eligible again` }, 'FAILBACK');
  },
};

/** i. Nothing is active and nothing is moving: place the group on the best eligible node. */
const placeRule: GroupRule = {
  name: 'place',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    if (cur !== undefined && (cur.active !== null || cur.transition !== null)) return undefined;
    const target = ctx.eligible[0];
    if (target === undefined) return noEligible(ctx, 'the group is not active anywhere and no node is eligible');
    return activate(ctx, target, {
      code: 'PLACED',
      message: `placing the group on "${target}"`,
      events: (epoch) => [event(ctx, 'group-placed', target, epoch, `placed on ${target}`)],
    });
  },
};

/** j. Keep the ranked standby list current (same epoch: the active does not change). */
const standbysRule: GroupRule = {
  name: 'standbys',
  decide: (ctx) => {
    const cur = ctx.current;
    const x = cur?.value.active ?? null;
    if (cur === undefined || x === null) return undefined;
    const want = desiredStandbys(ctx, x);
    if (sameList(want, cur.value.standbys)) return undefined;
    const assignment: Assignment = { ...cur.value, standbys: want, updatedAt: ctx.input.now };
    return {
      reason: { code: 'STANDBYS_UPDATED', message: `standbys [${cur.value.standbys.join(', ')}] -> [${want.join(', ')}]` },
      actions: [{ kind: 'writeAssignment', group: ctx.group.name, assignment, expect: cur.revision }],
    };
  },
};

/** k. Nothing to do. */
const convergedRule: GroupRule = {
  name: 'converged',
  decide: (ctx) => {
    const cur = ctx.current?.value;
    const where = cur?.active ?? null;
    return wait('CONVERGED', where === null ? 'nothing to do' : `active on "${where}" (epoch ${cur?.epoch ?? 0})`);
  },
};

/** The ladder, in order. The first rule that returns an outcome decides. */
export const groupRules: readonly GroupRule[] = [
  maintenanceRule,
  nodeMaintenanceRule,
  transitionRule,
  activeLostRule,
  activeFailedRule,
  drainRule,
  moveRule,
  drainedRule,
  failbackRule,
  placeRule,
  standbysRule,
  convergedRule,
];

// ---------------------------------------------------------------------------------------------
// plan()

function eligibilityView(input: PlanInput): EligibilityView {
  return {
    now: input.now,
    config: input.config,
    sessions: input.sessions,
    standbyNodes: input.standbyNodes,
    maintenanceNodes: input.maintenance.nodes,
    failures: input.failures,
    ...(input.mirrors ? { mirrors: input.mirrors } : {}),
  };
}

export function groupContext(input: PlanInput, group: GroupConfig): GroupContext {
  const view = eligibilityView(input);
  return {
    input,
    view,
    group,
    current: input.assignments.get(group.name),
    move: input.moves.get(group.name),
    eligible: eligibleNodes(view, group),
  };
}

const minDefined = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);

function decideGroup(input: PlanInput, group: GroupConfig): GroupDecision {
  const ctx = groupContext(input, group);
  let rule = 'converged';
  let outcome: RuleOutcome = wait('CONVERGED', 'nothing to do');
  for (const r of groupRules) {
    const o = r.decide(ctx);
    if (o !== undefined) {
      rule = r.name;
      outcome = o;
      break;
    }
  }
  const actions = [...(outcome.actions ?? [])];
  let recheck = outcome.recheckAfterMs;
  if (rule !== 'maintenance') {
    // Housekeeping: expired failure records no longer count (see activeFailure), so deleting them
    // changes no decision; it only keeps the store tidy. Unexpired ones schedule a recheck.
    const timeout = group.recovery.failureTimeoutMs;
    for (const f of input.failures) {
      if (f.value.group !== group.name) continue;
      const left = f.value.at + timeout - input.now;
      if (left <= 0) actions.push({ kind: 'deleteFailure', group: group.name, node: f.value.node, expect: f.revision });
      else recheck = minDefined(recheck, left);
    }
  }
  const base = { group: group.name, rule, reason: outcome.reason, actions, events: [...(outcome.events ?? [])] };
  return recheck === undefined ? base : { ...base, recheckAfterMs: recheck };
}

/** Stored state of a group that is no longer configured: remove it. */
function decideRemovedGroup(input: PlanInput, group: GroupId): GroupDecision {
  if (input.maintenance.cluster || input.maintenance.groups.has(group)) {
    return { group, rule: 'maintenance', reason: { code: 'MAINTENANCE', message: 'in maintenance; the removed group is left in place' }, actions: [], events: [] };
  }
  const actions: ControllerAction[] = [];
  const a = input.assignments.get(group);
  if (a !== undefined) actions.push({ kind: 'deleteAssignment', group, expect: a.revision });
  const mv = input.moves.get(group);
  if (mv !== undefined) actions.push({ kind: 'rejectMove', group, expect: mv.revision, reason: `group "${group}" is not in the configuration` });
  for (const f of input.failures) {
    if (f.value.group === group) actions.push({ kind: 'deleteFailure', group, node: f.value.node, expect: f.revision });
  }
  return { group, rule: 'removed-group', reason: { code: 'GROUP_REMOVED', message: `group "${group}" is no longer in the configuration` }, actions, events: [] };
}

/**
 * One decision per configured group (in configuration order), then one per group that is no
 * longer configured but still has an assignment, a move intent or failure records (sorted).
 * Decisions are independent: the driver may apply them in any order.
 */
export function plan(input: PlanInput): PlanOutput {
  const decisions: GroupDecision[] = input.config.groups.map((g) => decideGroup(input, g));
  const configured = new Set<string>(input.config.groups.map((g) => g.name));
  const stale = new Set<GroupId>();
  for (const g of input.assignments.keys()) if (!configured.has(g)) stale.add(g);
  for (const g of input.moves.keys()) if (!configured.has(g)) stale.add(g);
  for (const f of input.failures) if (!configured.has(f.value.group)) stale.add(f.value.group);
  for (const g of [...stale].sort()) decisions.push(decideRemovedGroup(input, g));
  let recheck: number | undefined;
  for (const d of decisions) recheck = minDefined(recheck, d.recheckAfterMs);
  return recheck === undefined ? { decisions } : { decisions, recheckAfterMs: recheck };
}
