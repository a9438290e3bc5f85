import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isClusterError, type ErrorCode } from '../../src/domain/errors.js';

/**
 * Poll `check` until it holds, for at most `timeoutMs` (a check that throws counts as "not yet");
 * the failure says what was awaited and the last error. Resolves with the time it held.
 */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  o: { readonly timeoutMs: number; readonly what: string; readonly everyMs?: number; readonly signal?: AbortSignal },
): Promise<number> {
  const deadline = Date.now() + o.timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    o.signal?.throwIfAborted();
    try {
      if (await check()) return Date.now();
    } catch (e) {
      lastErr = e;
    }
    await sleep(o.everyMs ?? 100, undefined, o.signal ? { signal: o.signal } : {});
  }
  throw new Error(`timed out after ${o.timeoutMs} ms waiting for: ${o.what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
}

/** `p` rejects with a ClusterError of exactly this code. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isClusterError(e, code), `expected ClusterError ${code}, got ${String(e)}`);
    return true;
  });
}

/** A loopback TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
