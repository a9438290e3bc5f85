/** Pure decisions: no I/O, no clock, no `node:*` imports. */
export { plan, ReasonCodes } from './plan.js';
export type {
  ClusterEventDraft,
  ControllerAction,
  GroupDecision,
  PlanInput,
  PlanOutput,
  Reason,
  ReasonCode,
  Versioned,
} from './plan.js';
export { backoffMs, initialLadder, observeExit, observeMonitor, recordRestart, restartsInWindow } from './ladder.js';
export type { LadderState, LadderStep, LadderThresholds, MonitorVerdict } from './ladder.js';
export { describeIneligibility, eligibleNodes, isReleased, whyIneligible } from './eligibility.js';
export type { EligibilityView, Ineligibility } from './eligibility.js';
export { drainTimeoutOf, pendingDrains } from './plan.js';
export { decideEndpointTarget, mayRetry, targetKey } from './endpoint.js';
export type { EndpointTarget, EndpointTargetInput } from './endpoint.js';
