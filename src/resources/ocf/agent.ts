import { mkdirSync } from 'node:fs';
import type { OcfResourceConfig } from '../../domain/config.js';
import { substituteNodeVars } from '../../domain/node-vars.js';
import { SystemClock, type Clock } from '../../platform/clock.js';
import { fenceActionArmed, lastFenceAction, releaseFenceAction, startFenceAction } from '../fence-action.js';
import type { ActionResult, Observation, ResourceAgent, ResourceContext } from '../types.js';
import { describeOcf, OcfRunner, parseAgentName, type OcfResult } from './runner.js';

/**
 * An `ocf` resource: any OCF resource agent script, run unchanged.
 *
 *  - start: a fence-action guard first (it runs the agent's `stop` once the node's fence deadline
 *    passes, even when this halo agent is dead), then the agent's `start`. OCF_SUCCESS is success;
 *    anything else fails the start with the exit code's name and meaning, and the agent's output.
 *  - stop: the agent's `stop` (OCF_SUCCESS, or OCF_NOT_RUNNING from a lenient agent), then the guard
 *    is released. A failed stop keeps the guard.
 *  - probe: the agent's `monitor`: OCF_SUCCESS/OCF_RUNNING_MASTER → running, OCF_NOT_RUNNING →
 *    stopped, anything else (a timeout included) → failed with the precise reason.
 *  - exited: runs `monitor` every `monitorIntervalMs` and resolves on the first result that is not
 *    "running" — that is the resource's health check, as Pacemaker's recurring monitor is.
 *  - promote/demote: run the agent's actions (for multi-state agents). halo's groups have no
 *    promoted role yet, so the group runner does not call them.
 *
 * OCF_RESOURCE_INSTANCE is `<group>.<resource>`; many agents name their state files after it. Agent
 * state lives where the agent puts it (usually /run/resource-agents), not in halo's stateDir.
 */
export class OcfAgent implements ResourceAgent {
  readonly config: OcfResourceConfig;
  private readonly params: Readonly<Record<string, string>>;
  private readonly clock: Clock = new SystemClock();

  constructor(config: OcfResourceConfig, vars: Record<string, string> = {}) {
    this.config = config;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.params)) params[k] = substituteNodeVars(v, vars);
    this.params = params;
  }

  runner(ctx: Pick<ResourceContext, 'group'>): OcfRunner {
    const ref = parseAgentName(this.config.agent, this.config.ocfRoot);
    // The schema only admits provider/type names, so this cannot fail for a parsed config.
    if (ref === null) throw new Error(`invalid OCF agent name "${this.config.agent}"`);
    return new OcfRunner(ref, `${ctx.group}.${this.config.name}`, this.params);
  }

  async probe(ctx: ResourceContext, signal?: AbortSignal): Promise<Observation> {
    signal?.throwIfAborted();
    const r = await this.monitor(ctx, signal);
    signal?.throwIfAborted();
    return observation(r);
  }

  async start(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const runner = this.runner(ctx);
    mkdirSync(ctx.stateDir, { recursive: true });
    try {
      await startFenceAction({
        command: runner.path,
        args: ['stop'],
        env: runner.env('stop', this.config.stopTimeoutMs),
        stateDir: ctx.stateDir,
        fenceFile: ctx.fenceFile,
        timeoutMs: this.config.stopTimeoutMs,
      });
    } catch (e) {
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.config.agent}: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (!fenceActionArmed(ctx.stateDir)) {
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.config.agent}: not started: ${lastFenceAction(ctx.stateDir) ?? 'the fence-action guard is gone'}` };
    }
    const r = await runner.run('start', { timeoutMs: this.config.startTimeoutMs, ...(signal ? { signal } : {}) });
    if (r.outcome.kind === 'ok' && !fenceActionArmed(ctx.stateDir)) {
      // The fence deadline passed during the start and the guard's stop may have run before the
      // start finished: stop again so nothing stays up without a guard.
      await runner.run('stop', { timeoutMs: this.config.stopTimeoutMs });
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.config.agent}: fenced during start (${lastFenceAction(ctx.stateDir) ?? 'guard gone'})` };
    }
    if (r.outcome.kind === 'ok') return { ok: true, detail: `${this.config.agent} started in ${r.ms} ms` };
    if (r.outcome.kind === 'timeout' && signal?.aborted !== true) {
      return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: `${this.config.agent} ${describeOcf(r)}` };
    }
    if (signal?.aborted === true) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: `${this.config.agent} start aborted` };
    return { ok: false, code: r.outcome.kind === 'error' && r.outcome.code === 4 ? 'HA_PERMISSION' : 'HA_RESOURCE_START_FAILED', detail: `${this.config.agent} ${describeOcf(r)}` };
  }

  async stop(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const r = await this.runner(ctx).run('stop', { timeoutMs: this.config.stopTimeoutMs, ...(signal ? { signal } : {}) });
    if (r.outcome.kind === 'ok' || r.outcome.kind === 'not-running') {
      await releaseFenceAction(ctx.stateDir);
      return { ok: true, detail: `${this.config.agent} stopped in ${r.ms} ms` };
    }
    return { ok: false, code: r.outcome.kind === 'timeout' ? 'HA_OPERATION_TIMEOUT' : 'HA_RESOURCE_STOP_FAILED', detail: `${this.config.agent} ${describeOcf(r)}` };
  }

  async exited(ctx: ResourceContext, signal: AbortSignal): Promise<string> {
    for (;;) {
      await this.clock.sleep(this.config.monitorIntervalMs, signal);
      const r = await this.monitor(ctx, signal);
      signal.throwIfAborted();
      if (r.outcome.kind !== 'ok' && r.outcome.kind !== 'master') return `${this.config.agent} ${describeOcf(r)}`;
    }
  }

  /** The agent's `promote` (multi-state agents). Not called by the group runner yet. */
  async promote(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const r = await this.runner(ctx).run('promote', { timeoutMs: this.config.promoteTimeoutMs, ...(signal ? { signal } : {}) });
    return r.outcome.kind === 'ok' || r.outcome.kind === 'master'
      ? { ok: true, detail: `${this.config.agent} promoted` }
      : { ok: false, code: r.outcome.kind === 'timeout' ? 'HA_OPERATION_TIMEOUT' : 'HA_RESOURCE_START_FAILED', detail: `${this.config.agent} ${describeOcf(r)}` };
  }

  /** The agent's `demote` (multi-state agents). Not called by the group runner yet. */
  async demote(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const r = await this.runner(ctx).run('demote', { timeoutMs: this.config.demoteTimeoutMs, ...(signal ? { signal } : {}) });
    return r.outcome.kind === 'ok'
      ? { ok: true, detail: `${this.config.agent} demoted` }
      : { ok: false, code: r.outcome.kind === 'timeout' ? 'HA_OPERATION_TIMEOUT' : 'HA_RESOURCE_STOP_FAILED', detail: `${this.config.agent} ${describeOcf(r)}` };
  }

  private monitor(ctx: ResourceContext, signal?: AbortSignal): Promise<OcfResult> {
    return this.runner(ctx).run('monitor', { timeoutMs: this.config.monitorTimeoutMs, intervalMs: this.config.monitorIntervalMs, ...(signal ? { signal } : {}) });
  }
}

function observation(r: OcfResult): Observation {
  switch (r.outcome.kind) {
    case 'ok':
    case 'master':
      return { kind: 'running', pid: null, startedAt: null, detail: describeOcf(r) };
    case 'not-running':
      return { kind: 'stopped', detail: describeOcf(r) };
    default:
      return { kind: 'failed', detail: describeOcf(r) };
  }
}
