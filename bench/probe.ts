import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The client's view of the sample service: one plain HTTP GET on a fresh connection (no
 * keep-alive, so every probe sees what a new client would see).
 */

/** What `GET /` of examples/sample-service.mjs answers. */
export interface ServiceAnswer {
  readonly node: string | null;
  readonly epoch: number | null;
  readonly pid: number;
  /** Date.now() of the service process when its module started running. */
  readonly startedAt: number;
}

export interface Target {
  readonly host: string;
  readonly port: number;
}

function parseAnswer(text: string): ServiceAnswer | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const node: unknown = Reflect.get(v, 'node');
  const epoch: unknown = Reflect.get(v, 'epoch');
  const pid: unknown = Reflect.get(v, 'pid');
  const startedAt: unknown = Reflect.get(v, 'startedAt');
  if (typeof pid !== 'number' || typeof startedAt !== 'number') return null;
  return {
    node: typeof node === 'string' ? node : null,
    epoch: typeof epoch === 'number' ? epoch : null,
    pid,
    startedAt,
  };
}

/** GET / on `t`; null for any failure (refused, reset, timeout, non-200, unparsable body). */
export function getService(t: Target, timeoutMs: number, signal?: AbortSignal): Promise<ServiceAnswer | null> {
  return new Promise((resolve) => {
    const req = request({ host: t.host, port: t.port, path: '/', method: 'GET', agent: false, timeout: timeoutMs, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? parseAnswer(body) : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

export interface WaitServingOptions {
  readonly timeoutMs: number;
  /** Pause between the starts of two probe rounds. */
  readonly everyMs: number;
  /** Limit of one probe (a hung service accepts the connection but never answers). */
  readonly probeTimeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface Served {
  /** performance.now() when the accepted answer arrived. */
  readonly at: number;
  readonly target: Target;
  readonly answer: ServiceAnswer;
}

/**
 * Probes every target in rounds (all targets of a round in parallel) until one answer satisfies
 * `accept`; null when `timeoutMs` passes first. The time resolution is `everyMs` plus one probe.
 */
export async function waitServing(
  targets: readonly Target[],
  accept: (a: ServiceAnswer, t: Target) => boolean,
  o: WaitServingOptions,
): Promise<Served | null> {
  const deadline = performance.now() + o.timeoutMs;
  while (performance.now() < deadline && o.signal?.aborted !== true) {
    const roundStart = performance.now();
    const got = await Promise.all(
      targets.map(async (t): Promise<Served | null> => {
        const a = await getService(t, o.probeTimeoutMs, o.signal);
        const at = performance.now();
        return a !== null && accept(a, t) ? { at, target: t, answer: a } : null;
      }),
    );
    const hits = got.filter((x): x is Served => x !== null).sort((x, y) => x.at - y.at);
    const first = hits[0];
    if (first) return first;
    const rest = o.everyMs - (performance.now() - roundStart);
    if (rest > 0) await sleep(rest, undefined, o.signal ? { signal: o.signal } : undefined).catch(() => undefined);
  }
  return null;
}

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes (errors count as not yet). */
export async function pollUntil<T>(check: () => Promise<T | null>, o: { timeoutMs: number; everyMs: number; signal?: AbortSignal }): Promise<T | null> {
  const deadline = performance.now() + o.timeoutMs;
  while (performance.now() < deadline && o.signal?.aborted !== true) {
    const roundStart = performance.now();
    const v = await check().catch(() => null);
    if (v !== null) return v;
    const rest = o.everyMs - (performance.now() - roundStart);
    if (rest > 0) await sleep(rest, undefined, o.signal ? { signal: o.signal } : undefined).catch(() => undefined);
  }
  return null;
}
