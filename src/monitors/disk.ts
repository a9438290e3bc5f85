import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { MonitorConfig } from '../domain/config.js';
import { runCheck } from './check.js';
import type { CheckResult, Monitor } from './types.js';
import { substituteNodeVars } from '../domain/node-vars.js';

type DiskConfig = Extract<MonitorConfig, { kind: 'disk' }>;

export const DISK_PROBE_BYTES = 4096;

/**
 * Creates a small file in `path`, writes DISK_PROBE_BYTES, fsyncs and removes it. Fails when the
 * directory is missing, read-only or full, or when the I/O does not finish within timeoutMs (a
 * hung filesystem; the I/O itself cannot be cancelled and finishes or fails in the background).
 */
export class DiskMonitor implements Monitor {
  readonly config: DiskConfig;
  private readonly dir: string;

  constructor(config: DiskConfig, vars?: Readonly<Record<string, string>>) {
    this.config = config;
    this.dir = substituteNodeVars(config.path, vars);
  }

  check(signal?: AbortSignal): Promise<CheckResult> {
    return runCheck(this.config.timeoutMs, signal, async () => {
      const file = join(this.dir, `.halo-disk-check-${process.pid}-${randomBytes(4).toString('hex')}`);
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.write(randomBytes(DISK_PROBE_BYTES));
        await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
      }
      return `wrote and synced ${DISK_PROBE_BYTES} bytes in ${this.dir}`;
    });
  }
}
