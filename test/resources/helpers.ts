import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ProcessResourceSchema, type ProcessResourceConfig } from '../../src/domain/config.js';
import { parseGroupId, parseNodeId } from '../../src/domain/ids.js';
import { isAlive, killGroup, monotonicNowMs } from '../../src/platform/proc.js';
import { writeFenceDeadline } from '../../src/resources/process/fence.js';
import { readPidRecord } from '../../src/resources/process/files.js';
import type { ResourceContext } from '../../src/resources/types.js';

/** Polls `check` every `intervalMs` until it returns a value other than undefined/false; throws at `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs, intervalMs = 10 }: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Keeps pushing a fence deadline `aheadMs` into the future until stopped. */
export class FenceKeeper {
  private timer: NodeJS.Timeout | null = null;
  /** Monotonic ms of the last deadline written. */
  lastDeadline = 0;

  constructor(
    readonly path: string,
    private readonly aheadMs: number,
  ) {}

  write(): void {
    this.lastDeadline = monotonicNowMs() + this.aheadMs;
    writeFenceDeadline(this.path, this.lastDeadline);
  }
  start(everyMs = 50): this {
    this.write();
    this.timer ??= setInterval(() => this.write(), everyMs);
    return this;
  }
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

export interface Sandbox {
  readonly dir: string;
  readonly ctx: ResourceContext;
  readonly fence: FenceKeeper;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/**
 * A temp dir with stateDir + fence file (kept fresh, `fenceAheadMs` = 2 s ahead by default) and cleanup registered on `t`:
 * whatever process group pid.json names is SIGKILLed and the dir removed.
 */
export function sandbox(
  t: TestContext,
  overrides: Partial<Pick<ResourceContext, 'epoch' | 'role'>> & { fenceAheadMs?: number } = {},
): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'halo-proc-'));
  const stateDir = join(dir, 'state');
  const fence = new FenceKeeper(join(dir, 'fence'), overrides.fenceAheadMs ?? 2_000).start();
  const ctx: ResourceContext = {
    node: parseNodeId('n1'),
    group: parseGroupId('web'),
    epoch: overrides.epoch ?? 7,
    role: overrides.role ?? 'active',
    stateDir,
    fenceFile: fence.path,
  };
  t.after(() => {
    fence.stop();
    const rec = readPidRecord(stateDir);
    if (rec !== null) {
      for (const pid of [rec.pgid, rec.guardPid]) {
        try {
          if (pid === rec.pgid) killGroup(pid, 'SIGKILL');
          else if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const read = (name: string) => (): string => {
    try {
      return readFileSync(join(stateDir, name), 'utf8');
    } catch {
      return '';
    }
  };
  return { dir, ctx, fence, stdout: read('stdout.log'), stderr: read('stderr.log') };
}

/** A process resource running `node -e script`. */
export function nodeScript(script: string, extra: Record<string, unknown> = {}): ProcessResourceConfig {
  return ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: process.execPath, args: ['-e', script], ...extra });
}

