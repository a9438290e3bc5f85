import { spawn } from 'node:child_process';
import type { MonitorConfig } from '../domain/config.js';
import { killGroup } from '../platform/proc.js';
import { CheckFailed, runCheck } from './check.js';
import type { CheckResult, Monitor } from './types.js';
import { substituteNodeVars } from '../domain/node-vars.js';

type CommandConfig = Extract<MonitorConfig, { kind: 'command' }>;

const OUTPUT_TAIL = 200;

/**
 * Runs `command args` (no shell) in its own process group; passes on exit code 0. On timeout or
 * abort the whole group is SIGKILLed, so a hung check leaves nothing behind; anything the command
 * left running in its group when it exited is killed too.
 */
export class CommandMonitor implements Monitor {
  readonly config: CommandConfig;
  private readonly command: string;
  private readonly args: readonly string[];

  constructor(config: CommandConfig, vars?: Readonly<Record<string, string>>) {
    this.config = config;
    this.command = substituteNodeVars(config.command, vars);
    this.args = config.args.map((a) => substituteNodeVars(a, vars));
  }

  check(signal?: AbortSignal): Promise<CheckResult> {
    return runCheck(this.config.timeoutMs, signal, (sig) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(this.command, [...this.args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        const keep = (chunk: Buffer): void => {
          output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
        };
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        const killAll = (): void => {
          if (child.pid === undefined) return;
          try {
            killGroup(child.pid, 'SIGKILL');
          } catch {
            // gone already
          }
        };
        const onAbort = (): void => killAll();
        sig.addEventListener('abort', onAbort, { once: true });
        child.once('error', (e) => {
          sig.removeEventListener('abort', onAbort);
          reject(e);
        });
        child.once('exit', (code, signalName) => {
          sig.removeEventListener('abort', onAbort);
          killAll();
          // Do not wait for pipes held open by leftovers; take what arrived.
          child.stdout.destroy();
          child.stderr.destroy();
          const tail = output.trim();
          if (code === 0) resolve(tail === '' ? 'exit 0' : `exit 0: ${tail}`);
          else reject(new CheckFailed(`${signalName !== null ? `killed by ${signalName}` : `exit ${String(code)}`}${tail === '' ? '' : `: ${tail}`}`));
        });
      }),
    );
  }
}
