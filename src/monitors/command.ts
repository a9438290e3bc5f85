import { spawn } from 'node:child_process';
import type { MonitorConfig } from '../domain/config.js';
import { killGroup } from '../platform/proc.js';
import { resolveRunAs, runAsEnv, setprivArgv, type RunAsPlan } from '../platform/run-as.js';
import { CheckFailed, runCheck } from './check.js';
import type { CheckResult, Monitor } from './types.js';
import { substituteNodeVars } from '../domain/node-vars.js';

type CommandConfig = Extract<MonitorConfig, { kind: 'command' }>;

const OUTPUT_TAIL = 200;

/**
 * Runs `command args` (no shell) in its own process group; passes on exit code 0. On timeout or
 * abort the whole group is SIGKILLed, so a hung check leaves nothing behind; anything the command
 * left running in its group when it exited is killed too.
 *
 * With `user`/`group` the command runs as that user the way a process resource does (through
 * setpriv: supplementary groups, gid, uid, no_new_privs; HOME/USER/LOGNAME follow the user). The
 * user is looked up at the first check and remembered; a failed lookup fails that check (with the
 * reason) and is retried at the next one.
 */
export class CommandMonitor implements Monitor {
  readonly config: CommandConfig;
  private readonly command: string;
  private readonly args: readonly string[];
  /** undefined until resolved; null: run as the agent itself. */
  private runAs: RunAsPlan | null | undefined;

  constructor(config: CommandConfig, vars?: Readonly<Record<string, string>>) {
    this.config = config;
    this.command = substituteNodeVars(config.command, vars);
    this.args = config.args.map((a) => substituteNodeVars(a, vars));
  }

  check(signal?: AbortSignal): Promise<CheckResult> {
    return runCheck(this.config.timeoutMs, signal, async (sig) => {
      const plan = await this.plan(sig);
      // Not spawn's uid/gid options: libuv would clear the supplementary groups instead of setting them.
      const [file, argv] = plan === null || plan.setpriv === null ? [this.command, [...this.args]] : [plan.setpriv, setprivArgv(plan.identity, this.command, this.args)];
      const env = plan === null ? process.env : { ...process.env, ...runAsEnv(plan.identity) };
      return new Promise<string>((resolve, reject) => {
        const child = spawn(file, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
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
      });
    });
  }

  private async plan(signal: AbortSignal): Promise<RunAsPlan | null> {
    if (this.runAs !== undefined) return this.runAs;
    const r = await resolveRunAs({ user: this.config.user, group: this.config.group }, { signal });
    if (!r.ok) throw new CheckFailed(`command monitor ${r.detail}`);
    this.runAs = r.plan;
    return r.plan;
  }
}
