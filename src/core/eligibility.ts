import { candidateNodes, type GroupConfig, type HaloConfig } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';
import type { GroupId, NodeId } from '../domain/ids.js';
import type { FailureRecord, GroupStatus, MirrorSyncRecord, NodeSession } from '../domain/state.js';
import { mirrorBehind } from './mirror.js';

/**
 * Which nodes may run a group, and whether a node has let go of it. Pure: every input,
 * including `now`, is passed in.
 */

/** What the eligibility rules need to see of the cluster. */
export interface EligibilityView {
  readonly now: number;
  readonly config: HaloConfig;
  /** Nodes whose session lease is live. */
  readonly sessions: ReadonlyMap<NodeId, NodeSession>;
  /** Nodes drained by an operator: no group may be active there. */
  readonly standbyNodes: ReadonlySet<NodeId>;
  /** Nodes in maintenance: nothing new is placed there. */
  readonly maintenanceNodes: ReadonlySet<NodeId>;
  readonly failures: readonly { readonly value: FailureRecord }[];
  /** Published in-sync sets of the groups' mirror resources (absent: no mirror has served). */
  readonly mirrors?: ReadonlyMap<GroupId, readonly MirrorSyncRecord[]>;
}

/** Why a node may not take a group; the first reason that applies, in this order. */
export type Ineligibility =
  | { readonly kind: 'unknown-node' }
  | { readonly kind: 'not-candidate'; readonly candidates: readonly NodeId[] }
  | { readonly kind: 'no-session' }
  | { readonly kind: 'drained' }
  | { readonly kind: 'node-maintenance' }
  | { readonly kind: 'failed'; readonly until: number; readonly reason: string }
  /** A sync-mode mirror: the node is not known to hold every acknowledged write. */
  | { readonly kind: 'mirror-behind'; readonly resource: string; readonly holders: readonly NodeId[] };

/**
 * The failure record that makes `node` ineligible for `group` at `now`, if any. A record counts
 * while `at + recovery.failureTimeoutMs > now`; an expired record is ignored even before it is
 * deleted, so eligibility never depends on garbage collection having run.
 */
export function activeFailure(view: EligibilityView, group: GroupConfig, node: NodeId): FailureRecord | undefined {
  let found: FailureRecord | undefined;
  for (const { value: f } of view.failures) {
    if (f.group !== group.name || f.node !== node) continue;
    if (f.at + group.recovery.failureTimeoutMs <= view.now) continue;
    if (found === undefined || f.at > found.at) found = f;
  }
  return found;
}

/** Undefined when `node` may take `group` now; otherwise the first reason it may not. */
export function whyIneligible(view: EligibilityView, group: GroupConfig, node: NodeId): Ineligibility | undefined {
  if (!view.config.nodes.some((n) => n.name === node)) return { kind: 'unknown-node' };
  const candidates = candidateNodes(view.config, group);
  if (!candidates.includes(node)) return { kind: 'not-candidate', candidates };
  if (!view.sessions.has(node)) return { kind: 'no-session' };
  if (view.standbyNodes.has(node)) return { kind: 'drained' };
  if (view.maintenanceNodes.has(node)) return { kind: 'node-maintenance' };
  const f = activeFailure(view, group, node);
  if (f !== undefined) return { kind: 'failed', until: f.at + group.recovery.failureTimeoutMs, reason: f.reason };
  const behind = mirrorBehind(group, node, view.mirrors?.get(group.name));
  if (behind !== undefined) return { kind: 'mirror-behind', resource: behind.resource, holders: behind.holders };
  return undefined;
}

/** Eligible nodes for `group`, best first (candidate-list order). */
export function eligibleNodes(view: EligibilityView, group: GroupConfig): NodeId[] {
  return candidateNodes(view.config, group).filter((n) => whyIneligible(view, group, n) === undefined);
}

/** One sentence for operators, e.g. in a rejected move. */
export function describeIneligibility(node: NodeId, why: Ineligibility, now: number): string {
  switch (why.kind) {
    case 'unknown-node':
      return `node "${node}" is not in the configuration`;
    case 'not-candidate':
      return `node "${node}" is not among the group's nodes (${why.candidates.join(', ')})`;
    case 'no-session':
      return `node "${node}" has no live session`;
    case 'drained':
      return `node "${node}" is drained (standby)`;
    case 'node-maintenance':
      return `node "${node}" is in maintenance`;
    case 'failed':
      return `the group failed on node "${node}" (${why.reason}); it is ineligible for another ${why.until - now}ms or until cleanup`;
    case 'mirror-behind':
      return `node "${node}" is not known to hold every acknowledged write of sync mirror "${why.resource}" (in sync: ${why.holders.join(', ')}); set allowDataLoss to fail over anyway`;
    default:
      return assertNever(why);
  }
}

/**
 * Whether `node` has let go of `group` for assignment epoch `epoch`: its session lease is gone
 * (an agent that cannot renew its lease stops its resources before the lease can expire), or it
 * reported the group 'stopped' or 'failed' (every resource stopped) for this epoch or a later one.
 * A report for an older epoch says nothing about the current one and does not count.
 */
export function isReleased(
  node: NodeId,
  group: GroupId,
  epoch: number,
  sessions: ReadonlyMap<NodeId, unknown>,
  status: ReadonlyMap<NodeId, ReadonlyMap<GroupId, GroupStatus>>,
): boolean {
  if (!sessions.has(node)) return true;
  const st = status.get(node)?.get(group);
  if (st === undefined) return false;
  return (st.state === 'stopped' || st.state === 'failed') && st.epoch >= epoch;
}
