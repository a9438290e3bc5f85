import type { Epoch, GroupId, NodeId } from '../domain/ids.js';
import type { ResourceConfig } from '../domain/config.js';

/** What a resource agent is told when asked to act: who it runs for and under which fencing token. */
export interface ResourceContext {
  readonly node: NodeId;
  readonly group: GroupId;
  readonly epoch: Epoch;
  readonly role: 'active' | 'standby';
  /** Per-resource directory for runtime state (pid files) and logs; created by the caller. */
  readonly stateDir: string;
  /**
   * File holding the node's fencing deadline (CLOCK_MONOTONIC milliseconds, decimal text). Anything
   * the resource leaves running must be killed by a guard once that time has passed without the
   * file being refreshed — this is what keeps a frozen or dead agent from leaving an active behind.
   */
  readonly fenceFile: string;
}

export type Observation =
  | { readonly kind: 'running'; readonly pid: number | null; readonly startedAt: number | null; readonly detail: string }
  | { readonly kind: 'stopped'; readonly detail: string }
  | { readonly kind: 'failed'; readonly detail: string };

export type ActionResult =
  | { readonly ok: true; readonly detail: string }
  | { readonly ok: false; readonly code: 'HA_RESOURCE_START_FAILED' | 'HA_RESOURCE_STOP_FAILED' | 'HA_OPERATION_TIMEOUT' | 'HA_PERMISSION'; readonly detail: string };

/**
 * One managed thing. Every method is idempotent (start when running, stop when stopped: ok) and
 * never throws for an expected state; it honours `signal`.
 */
export interface ResourceAgent {
  readonly config: ResourceConfig;
  /** Look without changing anything (also used to re-adopt after an agent restart). */
  probe(ctx: ResourceContext, signal?: AbortSignal): Promise<Observation>;
  /** Start and return once running (readiness is the caller's monitor, see `readiness`). */
  start(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult>;
  /** Stop gracefully, escalating as configured; returns once nothing of it runs. */
  stop(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult>;
  /**
   * Resolves when a process the agent started exits (event-driven process-exit monitor), with a
   * description. Never resolves while it runs; rejects only with the abort reason.
   */
  exited(ctx: ResourceContext, signal: AbortSignal): Promise<string>;
}
