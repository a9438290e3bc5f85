import type { Assignment, FailureRecord } from '../domain/state.js';
import type { Epoch, NodeId } from '../domain/ids.js';

/**
 * What one agent should do with one group on its own node. Pure: the caller passes `now` from its
 * monotonic clock and everything it observed.
 */
export interface AgentGroupInput {
  readonly now: number;
  readonly self: NodeId;
  /** Monotonic time until which this agent may run anything active; null = no lease. */
  readonly leaseValidUntil: number | null;
  /** The event loop stalled since the last renewal: do not start anything until a fresh renewal. */
  readonly leaseSuspect: boolean;
  /** Cluster, group or node maintenance: halo leaves the resources as they are. */
  readonly maintenance: boolean;
  readonly assignment: Assignment | undefined;
  /** This node's failure record for the group, if any (it gave up here). */
  readonly failure: FailureRecord | undefined;
  /** Whether anything of the group currently runs here. */
  readonly runningHere: boolean;
}

export type AgentTarget =
  | { readonly kind: 'active'; readonly epoch: Epoch }
  | { readonly kind: 'stopped' }
  /** Leave resources exactly as they are (maintenance). */
  | { readonly kind: 'unmanaged' };

export interface AgentGroupDecision {
  readonly target: AgentTarget;
  readonly rule: string;
  readonly code: string;
  readonly message: string;
}

type Rule = (i: AgentGroupInput) => AgentGroupDecision | undefined;

const stopped = (rule: string, code: string, message: string): AgentGroupDecision => ({ target: { kind: 'stopped' }, rule, code, message });

/** Ordered: the first rule that answers wins. Safety rules come first. */
export const agentRules: readonly (readonly [string, Rule])[] = [
  [
    'self-fence',
    (i) => {
      // Without a lease provably valid by our own clock another node may be made active at any
      // moment, so nothing may run here — maintenance or not.
      if (i.leaseValidUntil !== null && i.now < i.leaseValidUntil) return undefined;
      return stopped('self-fence', 'LEASE_NOT_VALID', i.leaseValidUntil === null ? 'no session lease' : `session lease belief expired ${i.now - i.leaseValidUntil} ms ago`);
    },
  ],
  ['maintenance', (i) => (i.maintenance ? { target: { kind: 'unmanaged' }, rule: 'maintenance', code: 'MAINTENANCE', message: 'in maintenance: resources left as they are' } : undefined)],
  [
    'not-assigned',
    (i) => {
      if (i.assignment?.active === i.self) return undefined;
      const where = i.assignment?.active ? `active on ${i.assignment.active}` : i.assignment?.transition ? `moving (${i.assignment.transition.kind})` : 'not placed';
      return stopped('not-assigned', 'NOT_ASSIGNED', `group is ${where}`);
    },
  ],
  [
    'failed-here',
    (i) => {
      if (!i.failure || !i.assignment || i.failure.epoch < i.assignment.epoch) return undefined;
      return stopped('failed-here', 'FAILED_HERE', `gave up here at epoch ${i.failure.epoch}: ${i.failure.reason}`);
    },
  ],
  [
    'loop-lag',
    (i) => (i.leaseSuspect && !i.runningHere ? stopped('loop-lag', 'LEASE_SUSPECT', 'event loop stalled; waiting for a fresh lease renewal before starting') : undefined),
  ],
];

export function decideAgentGroup(i: AgentGroupInput): AgentGroupDecision {
  for (const [, rule] of agentRules) {
    const d = rule(i);
    if (d) return d;
  }
  const epoch = i.assignment?.epoch ?? 0;
  return { target: { kind: 'active', epoch }, rule: 'run-active', code: 'ASSIGNED', message: `assigned active at epoch ${epoch}` };
}
