import type { ResourceConfig } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';
import { OcfAgent } from './ocf/agent.js';
import { ProcessAgent } from './process/agent.js';
import { VipAgent } from './vip/agent.js';
import type { ResourceAgent } from './types.js';

export { ProcessAgent, GUARD_SCRIPT } from './process/agent.js';
export { VipAgent } from './vip/agent.js';
export { OcfAgent } from './ocf/agent.js';
export { OCF_CODES, OcfRunner, agentPath, agentProblem, describeOcf, listAgents, ocfOutcome, parseAgentName } from './ocf/runner.js';
export type { OcfAction, OcfAgentRef, OcfOutcome, OcfResult } from './ocf/runner.js';
export { readFenceDeadline, writeFenceDeadline } from './process/fence.js';
export type { ActionResult, Observation, ResourceAgent, ResourceContext } from './types.js';

/**
 * Builds the resource agent for `cfg`. `vars` holds per-node values (`HALO_NODE_ADDRESS`,
 * `HALO_NODE`) substituted into the resource's env, command and args.
 */
export function makeResourceAgent(cfg: ResourceConfig, vars: Record<string, string> = {}): ResourceAgent {
  switch (cfg.type) {
    case 'process':
      return new ProcessAgent(cfg, vars);
    case 'vip':
      return new VipAgent(cfg, vars);
    case 'ocf':
      return new OcfAgent(cfg, vars);
    default:
      return assertNever(cfg);
  }
}
