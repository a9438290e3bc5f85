import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { HALO_BIN } from '../src/demo/run.js';
import type { Log, Series } from './failover.js';
import { waitServing } from './probe.js';

/** The demo's endpoint on n1 (examples/demo.yaml): the address a new user's first `curl` goes to. */
const DEMO_ENDPOINT = { host: '127.0.0.11', port: 8081 } as const;
const TRIAL_TIMEOUT_MS = 30_000;

/**
 * A new user's first impression: `halo demo` in a directory it has never used (so the demo makes
 * its CA, certificates, first admin token and credentials file, as after a fresh clone) to the
 * first answer of the sample service through n1's endpoint. Each trial stops the demo with Ctrl-C
 * (SIGINT) and waits for it to exit. Uses the demo's fixed addresses and ports: no demo may be
 * running meanwhile.
 */
export async function benchDemoStart(trials: number, log: Log): Promise<Series> {
  const s: Series = { samples: [], timedOut: 0 };
  for (let i = 0; i < trials; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'halo-bench-demo-'));
    try {
      const t0 = performance.now();
      const p = spawn(process.execPath, [HALO_BIN, 'demo', '--dir', join(dir, 'demo')], {
        stdio: 'ignore',
        env: { ...process.env, HOME: join(dir, 'home'), HALO_CREDENTIALS: join(dir, 'credentials.json') },
      });
      const exited = new Promise<void>((res) => p.once('exit', () => res()));
      const got = await waitServing([DEMO_ENDPOINT], () => true, { timeoutMs: TRIAL_TIMEOUT_MS, everyMs: 20, probeTimeoutMs: 250 });
      if (got) s.samples.push(got.at - t0);
      else s.timedOut++;
      log(`  demo ${i + 1}/${trials}: ${got ? `first answer through the endpoint after ${(got.at - t0).toFixed(0)} ms` : 'timed out'}`);
      p.kill('SIGINT');
      await Promise.race([exited, sleep(20_000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return s;
}
