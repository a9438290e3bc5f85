import { Etcd3, type IOptions } from 'etcd3';
import { abortable } from '../../platform/abortable.js';
import { classifyEtcdError } from './errors.js';

type GlobalPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * etcd3 retries failed calls three times by default, writes included, and its per-member circuit
 * breaker skips a member for 5 s after three failures. halo chooses the member and retries itself
 * (see `Members` and EtcdCoordinator's `call`), so each etcd3 call runs exactly once.
 */
class RunOnce implements GlobalPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess: GlobalPolicy['onSuccess'] = () => ({ dispose: () => undefined });
  readonly onFailure: GlobalPolicy['onFailure'] = () => ({ dispose: () => undefined });

  async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return await fn({ signal: signal ?? new AbortController().signal });
  }
}

/**
 * What halo knows of one member:
 * - `unknown`: not heard from yet;
 * - `up`: answered its last health check (or call) and follows a leader;
 * - `suspect`: its health check has waited longer than `suspectAfterMs` (new calls go elsewhere);
 * - `no-leader`: answers, but has no leader (cut off from the quorum, or an election is running);
 * - `down`: its last health check or call got no answer in time (crashed, unreachable, black-holed).
 */
export type MemberState = 'unknown' | 'up' | 'suspect' | 'no-leader' | 'down';

const RANK: Readonly<Record<MemberState, number>> = { up: 0, unknown: 1, suspect: 2, 'no-leader': 3, down: 4 };

export interface HealthCheckOptions {
  /** How often each member is asked for its status (default 200 ms). */
  readonly intervalMs: number;
  /** After this long without an answer a member is `suspect`: new calls prefer others (default 300 ms). */
  readonly suspectAfterMs: number;
  /**
   * After this long without an answer a member is `down`: calls and watches on it are cut short
   * (default 1000 ms). Longer than a busy machine's pauses, so a slow answer is not taken for a
   * dead member.
   */
  readonly timeoutMs: number;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckOptions = { intervalMs: 200, suspectAfterMs: 300, timeoutMs: 1000 };

/** Thrown into a call or watch on a member when that member is found down or without a leader. */
export class MemberLostError extends Error {
  override readonly name = 'MemberLostError';
  constructor(
    readonly member: string,
    state: MemberState,
    why = '',
  ) {
    super(why !== '' ? why : state === 'no-leader' ? 'the member lost its leader' : 'the member stopped answering its health checks');
  }
}

/** One etcd member: its own etcd3 client (so halo, not etcd3, picks the member), and its health. */
export class Member {
  readonly client: Etcd3;
  state: MemberState = 'unknown';
  /** When it last answered anything (ms since epoch, 0 if never). */
  lastAnswerAt = 0;
  private lostCtl = new AbortController();

  constructor(
    readonly endpoint: string,
    options: Omit<IOptions, 'hosts' | 'faultHandling'>,
  ) {
    this.client = new Etcd3({ ...options, hosts: [endpoint], faultHandling: { global: new RunOnce(), host: () => new RunOnce() } });
  }

  /**
   * Aborts (with a MemberLostError) when this member turns `down` or `no-leader`; a fresh signal
   * once it is `up` again. Undefined while it is not usable: nothing then to wait for.
   */
  get lost(): AbortSignal | undefined {
    return this.lostCtl.signal.aborted ? undefined : this.lostCtl.signal;
  }

  set(state: MemberState): void {
    const was = this.state;
    this.state = state;
    if (state === 'up' || state === 'no-leader') this.lastAnswerAt = Date.now();
    if ((state === 'down' || state === 'no-leader') && !this.lostCtl.signal.aborted) {
      this.lostCtl.abort(new MemberLostError(this.endpoint, state));
    } else if (state === 'up' && was !== 'up' && this.lostCtl.signal.aborted) {
      this.lostCtl = new AbortController();
    }
  }
}

/**
 * The members of one etcd cluster, checked in the background: every `intervalMs` each member is
 * asked for its status (answered locally by the member, no quorum needed) with a `timeoutMs`
 * deadline. A member that does not answer in time is `down`; one that answers without a leader
 * is `no-leader`. Calls and watches go to the best member (`order`): `up` before `unknown` before
 * `no-leader` before `down`, staying on the member that answered last while it is `up`. Calls and
 * watches on a member that turns `down` or `no-leader` are cut short (`Member.lost`), so one
 * black-holed member (packets dropped, no error ever) stalls nothing for longer than `timeoutMs`.
 */
export class Members {
  readonly all: readonly Member[];
  /** The member calls stick to while it is `up`: the one that answered last. */
  private current: Member | undefined;
  private checking = false;

  constructor(
    endpoints: readonly string[],
    options: Omit<IOptions, 'hosts' | 'faultHandling'>,
    private readonly health: HealthCheckOptions,
    private readonly closing: AbortSignal,
  ) {
    // Shuffled once, so the agents of one cluster spread over the members.
    const shuffled = [...endpoints];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
    }
    this.all = shuffled.map((e) => new Member(e, options));
  }

  /** Starts the background health checks (once; they stop when the coordinator closes). */
  startChecks(): void {
    if (this.checking) return;
    this.checking = true;
    for (const m of this.all) void this.checkLoop(m);
  }

  /** Members best first; `avoid` (already tried) go last unless every member was tried. */
  order(avoid: ReadonlySet<Member> = new Set()): Member[] {
    const score = (m: Member): number => RANK[m.state] * 2 + (m === this.current ? 0 : 1) + (avoid.has(m) ? 100 : 0);
    return [...this.all].sort((a, b) => score(a) - score(b) || b.lastAnswerAt - a.lastAnswerAt);
  }

  /** A call on `m` got an answer: it is up and becomes the member to stick to. */
  answered(m: Member): void {
    m.set('up');
    this.current = m;
  }

  /** A call on `m` failed without an answer (not sent, or no answer in time). */
  failed(m: Member, noLeader: boolean): void {
    m.set(noLeader ? 'no-leader' : 'down');
    if (this.current === m) this.current = undefined;
  }

  /** Whether `m` is the member calls stick to now. */
  isCurrent(m: Member): boolean {
    return this.current === m;
  }

  close(): void {
    for (const m of this.all) m.client.close();
  }

  private async checkLoop(m: Member): Promise<void> {
    while (!this.closing.aborted) {
      const started = Date.now();
      const suspect = setTimeout(() => {
        if (m.state === 'up' || m.state === 'unknown') m.set('suspect');
      }, this.health.suspectAfterMs);
      suspect.unref();
      try {
        const status = await abortable(m.client.maintenance.status({ deadline: new Date(started + this.health.timeoutMs) }), this.closing);
        if (status.leader === '0') this.failed(m, true);
        else m.set('up');
      } catch (e) {
        if (this.closing.aborted) return;
        const f = classifyEtcdError(e, 'health check');
        // A refusal (e.g. of the credentials) is an answer: the member is there.
        if (f.kind === 'final') m.set('up');
        else this.failed(m, f.detail.includes('no leader'));
      } finally {
        clearTimeout(suspect);
      }
      await sleepUnref(Math.max(0, started + this.health.intervalMs - Date.now()), this.closing);
    }
  }
}

/** Waits `ms` without keeping the process alive; resolves early when `signal` aborts. */
function sleepUnref(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
