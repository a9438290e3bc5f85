import { spawn } from 'node:child_process';
import { killGroup } from '../platform/proc.js';

/** How a short-lived tool run ended. `code` is null when it was killed or could not be started. */
export interface ToolResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The deadline passed (or `signal` aborted) and the tool's process group was killed. */
  readonly timedOut: boolean;
  /** errno code when the tool could not be started (ENOENT, EACCES), else null. */
  readonly spawnError: string | null;
}

const OUTPUT_LIMIT = 256 * 1024;

/**
 * Runs `cmd args` in its own process group, collects its output and never throws: a missing
 * binary, a timeout and an abort are all results. At the deadline (or abort) the whole group is
 * SIGKILLed, so a tool's leftovers do not outlive the call.
 */
export function runTool(
  cmd: string,
  args: readonly string[],
  o: { readonly env?: NodeJS.ProcessEnv; readonly timeoutMs: number; readonly signal?: AbortSignal; readonly cwd?: string },
): Promise<ToolResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(cmd, [...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env, ...(o.cwd !== undefined ? { cwd: o.cwd } : {}) });
    const killAll = (): void => {
      if (child.pid === undefined) return;
      try {
        killGroup(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    const onDeadline = (): void => {
      timedOut = true;
      killAll();
    };
    const timer = setTimeout(onDeadline, o.timeoutMs);
    o.signal?.addEventListener('abort', onDeadline, { once: true });
    if (o.signal?.aborted === true) onDeadline();
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += d.toString('utf8');
    });
    const finish = (r: ToolResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onDeadline);
      resolve(r);
    };
    child.once('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, stdout, stderr, timedOut, spawnError: e.code ?? e.message }));
    child.once('close', (code, sig) => finish({ code, signal: sig, stdout, stderr, timedOut, spawnError: null }));
  });
}

/** One line for messages: the tool's stderr (or stdout), trimmed and shortened. */
export function toolOutput(r: ToolResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).replace(/\s+/g, ' ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
