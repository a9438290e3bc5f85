import type { Epoch, NodeId } from '../domain/ids.js';
import type { Assignment, GroupStatus } from '../domain/state.js';

/**
 * Where a group's endpoints send new connections, decided from one snapshot of the store. Pure:
 * the agent on every node evaluates it for every group with endpoints and hands the result to its
 * listeners.
 *
 * - forward: the active node runs the group at the assignment's epoch; connect to it.
 * - drain: a planned move is draining (transition.drainUntil): hold new connections, let those in
 *   flight finish on `node`, and report drained for (epoch, startedAt) once none is left.
 * - hold: no instance is ready to take connections; new ones wait (up to holdTimeoutMs).
 */
export type EndpointTarget =
  | { readonly kind: 'forward'; readonly node: NodeId; readonly epoch: Epoch }
  | { readonly kind: 'drain'; readonly node: NodeId; readonly epoch: Epoch; readonly startedAt: number }
  | { readonly kind: 'hold'; readonly reason: string };

export interface EndpointTargetInput {
  readonly assignment: Assignment | undefined;
  /** Whether the assigned active node holds a live session. */
  readonly activeOnline: boolean;
  /** The assigned active node's own report of the group, if any. */
  readonly activeStatus: GroupStatus | undefined;
}

export function decideEndpointTarget(i: EndpointTargetInput): EndpointTarget {
  const a = i.assignment;
  if (a === undefined) return { kind: 'hold', reason: 'the group is not placed' };
  const t = a.transition;
  if (a.active === null) return { kind: 'hold', reason: t === null ? 'no active instance' : `${t.kind} from ${t.from} in progress` };
  if (t !== null && t.drainUntil !== undefined) return { kind: 'drain', node: a.active, epoch: a.epoch, startedAt: t.startedAt };
  if (!i.activeOnline) return { kind: 'hold', reason: `active node ${a.active} has no live session` };
  const st = i.activeStatus;
  if (st === undefined || st.epoch !== a.epoch || st.state !== 'running') {
    return { kind: 'hold', reason: `waiting for ${a.active} to run the group at epoch ${a.epoch} (${st === undefined ? 'no report' : `${st.state} at epoch ${st.epoch}`})` };
  }
  return { kind: 'forward', node: a.active, epoch: a.epoch };
}

/** Stable identity of a target, to notice changes. */
export function targetKey(t: EndpointTarget): string {
  switch (t.kind) {
    case 'forward':
      return `forward:${t.node}:${t.epoch}`;
    case 'drain':
      return `drain:${t.node}:${t.epoch}:${t.startedAt}`;
    case 'hold':
      return 'hold';
  }
}

/** Whether a request whose backend died after it was sent may be sent once more (http mode). */
export function mayRetry(method: string | undefined, retryMethods: readonly string[]): boolean {
  return method !== undefined && retryMethods.includes(method.toUpperCase());
}
