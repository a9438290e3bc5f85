import { rng } from '../sim/world.js';
/**
 * Random fault schedules for test/netns/schedules.test.ts, drawn reproducibly from a seed: the same
 * seed always gives the same steps (kinds, targets, holds, heal order). Targets are roles resolved
 * when a step runs (the active's host, the controller's host, a standby) or fixed hosts.
 */

export const HOSTS = ['h1', 'h2', 'h3'] as const;
export type HostName = (typeof HOSTS)[number];


export const FAULT_KINDS = [
  'kill-agent', // SIGKILL the agent alone (its guard keeps fencing); heal: start it again
  'kill-halo', // SIGKILL the agent, its guards and services at once; heal: start the agent again
  'stop-agent', // SIGSTOP the agent; heal: SIGCONT
  'isolate', // drop every frame to and from the host at the bridge; heal: remove the rules
  'deafen', // one-way cuts: the host hears nobody (its packets still go out)
  'mute', // one-way cuts: nobody hears the host (it still hears them)
  'kill-service', // SIGKILL the service instance on the host (if any); no heal
  'stop-service', // SIGSTOP the service instance (its health check stalls); heal: SIGCONT if still alive
  'kill-guard', // SIGKILL the fencing guard of the service instance on the host (the service must die with it); no heal
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Whom a fault hits, resolved when it is injected: the active's host, the controller's host, a standby, or a fixed host. */
export type Target = 'active' | 'controller' | 'standby' | HostName;

export interface Step {
  readonly kind: FaultKind;
  readonly target: Target;
  /** How long the fault is held before the next step. */
  readonly holdMs: number;
  /** Healed right after its hold (true) or only at the end of the schedule (false: faults overlap). */
  readonly healAfterHold: boolean;
}

export interface Schedule {
  readonly seed: number;
  readonly steps: readonly Step[];
}

/** The schedule drawn from `seed`: 1-3 steps, each a fault kind, a target, a hold of 300-3500 ms. */
export function scheduleFor(seed: number): Schedule {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => {
    const x = xs[Math.floor(r() * xs.length)];
    if (x === undefined) throw new Error('empty choice');
    return x;
  };
  const n = 1 + Math.floor(r() * 3);
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    const kind = pick(FAULT_KINDS);
    const target: Target = kind === 'kill-service' || kind === 'stop-service' || kind === 'kill-guard' ? 'active' : pick<Target>(['active', 'active', 'controller', 'standby', ...HOSTS]);
    steps.push({ kind, target, holdMs: 300 + Math.floor(r() * 3200), healAfterHold: r() < 0.6 });
  }
  return { seed, steps };
}

export function describeSchedule(s: Schedule): string {
  return s.steps.map((x) => `${x.kind}(${x.target}) hold ${x.holdMs} ms${x.healAfterHold ? ', heal' : ''}`).join('; ');
}

/** Seed of schedule `i` of a run with `base`: spread out, so neighbouring runs draw different schedules. */
export function seedOf(base: number, i: number): number {
  return (Math.imul(base ^ 0x9e3779b9, 2654435761) + Math.imul(i + 1, 0x85ebca6b)) >>> 0;
}

