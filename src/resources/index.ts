import type { MirrorResourceConfig, ResourceConfig } from '../domain/config.js';
import { assertNever, ClusterError } from '../domain/errors.js';
import { OcfAgent } from './ocf/agent.js';
import { ProcessAgent } from './process/agent.js';
import { VipAgent } from './vip/agent.js';
import type { ResourceAgent } from './types.js';

export { MirrorAgent } from './mirror/agent.js';
export type { MirrorNodeDeps, MirrorNodeStatus } from './mirror/agent.js';
export { ProcessAgent, guardBinary } from './process/agent.js';
export { VipAgent } from './vip/agent.js';
export { OcfAgent } from './ocf/agent.js';
export { OCF_CODES, OcfRunner, agentPath, agentProblem, describeOcf, listAgents, ocfOutcome, parseAgentName } from './ocf/runner.js';
export type { OcfAction, OcfAgentRef, OcfOutcome, OcfResult } from './ocf/runner.js';
export { readFenceDeadline, writeFenceDeadline } from './process/fence.js';
export type { ActionResult, Observation, ResourceAgent, ResourceContext } from './types.js';

/**
 * Builds the resource agent for `cfg`. `vars` holds per-node values (`HALO_NODE_ADDRESS`,
 * `HALO_NODE`) substituted into the resource's env, command and args; `opts.mirror` gives the
 * node's (long-lived) agent of a mirror resource.
 */
export function makeResourceAgent(
  cfg: ResourceConfig,
  vars: Record<string, string> = {},
  opts: { readonly mirror?: (cfg: MirrorResourceConfig) => ResourceAgent } = {},
): ResourceAgent {
  switch (cfg.type) {
    case 'process':
      return new ProcessAgent(cfg, vars);
    case 'vip':
      return new VipAgent(cfg, vars);
    case 'ocf':
      return new OcfAgent(cfg, vars);
    case 'mirror':
      if (!opts.mirror) throw new ClusterError('HA_INTERNAL', `mirror resource "${cfg.name}" needs the agent's mirror service`);
      return opts.mirror(cfg);
    default:
      return assertNever(cfg);
  }
}
