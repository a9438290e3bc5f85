import type { CheckResult } from './types.js';

/**
 * Runs one check body under `timeoutMs` combined with the caller's `signal`, measuring latency.
 * The body returns a detail for success and throws (or rejects) for failure. Never throws itself:
 * a timeout, an abort and an error all become `ok: false` with a readable detail.
 *
 * The body receives the combined signal and must stop its I/O when it aborts; the result is
 * returned at the deadline even if the body does not (e.g. a filesystem call that cannot be
 * cancelled), so a check never takes much longer than `timeoutMs`.
 */
export async function runCheck(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  body: (signal: AbortSignal) => Promise<string>,
): Promise<CheckResult> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  const latency = (): number => Math.round((performance.now() - started) * 10) / 10;
  const why = (): string => (signal?.aborted === true ? 'aborted' : `timed out after ${timeoutMs} ms`);
  if (combined.aborted) return { ok: false, latencyMs: 0, detail: why() };

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new CheckAborted());
    combined.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const detail = await Promise.race([body(combined), aborted]);
    return { ok: true, latencyMs: latency(), detail };
  } catch (e) {
    if (combined.aborted) return { ok: false, latencyMs: latency(), detail: why() };
    return { ok: false, latencyMs: latency(), detail: describeError(e) };
  } finally {
    if (onAbort !== undefined) combined.removeEventListener('abort', onAbort);
    // The race may leave `aborted` rejected with nobody listening.
    aborted.catch(() => undefined);
  }
}

class CheckAborted extends Error {}

/** A failed check's reason: the error code when there is one, then the message. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = 'code' in e && typeof e.code === 'string' ? e.code : '';
    return code === '' || e.message.includes(code) ? e.message : `${code}: ${e.message}`;
  }
  return String(e);
}

/** A failure raised by a check body; its message is the check's detail. */
export class CheckFailed extends Error {}
