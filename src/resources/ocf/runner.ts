import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, toolOutput } from '../exec.js';

/** OCF exit codes (OCF resource agent API 1.1) and what they mean for halo. */
export const OCF_CODES = {
  0: { name: 'OCF_SUCCESS', meaning: 'success' },
  1: { name: 'OCF_ERR_GENERIC', meaning: 'generic error (the agent\'s output or the system log says more)' },
  2: { name: 'OCF_ERR_ARGS', meaning: 'invalid or missing parameters' },
  3: { name: 'OCF_ERR_UNIMPLEMENTED', meaning: 'action not implemented by this agent' },
  4: { name: 'OCF_ERR_PERM', meaning: 'insufficient privileges' },
  5: { name: 'OCF_ERR_INSTALLED', meaning: 'software the agent needs is not installed on this node' },
  6: { name: 'OCF_ERR_CONFIGURED', meaning: 'the resource is misconfigured (check its params)' },
  7: { name: 'OCF_NOT_RUNNING', meaning: 'not running' },
  8: { name: 'OCF_RUNNING_MASTER', meaning: 'running as master (promoted)' },
  9: { name: 'OCF_FAILED_MASTER', meaning: 'failed while master (promoted)' },
  190: { name: 'OCF_DEGRADED', meaning: 'running, degraded' },
  191: { name: 'OCF_DEGRADED_MASTER', meaning: 'running as master, degraded' },
} as const satisfies Record<number, { name: string; meaning: string }>;

const CODE_INFO: ReadonlyMap<number, { readonly name: string; readonly meaning: string }> = new Map(Object.entries(OCF_CODES).map(([k, v]) => [Number(k), v]));

export type OcfAction = 'start' | 'stop' | 'monitor' | 'promote' | 'demote' | 'meta-data' | 'validate-all';

/** An action's outcome in halo's terms. */
export type OcfOutcome =
  | { readonly kind: 'ok'; readonly code: 0 | 190 }
  | { readonly kind: 'not-running' }
  | { readonly kind: 'master'; readonly code: 8 | 191 }
  | { readonly kind: 'failed-master' }
  | { readonly kind: 'error'; readonly code: number; readonly name: string; readonly meaning: string }
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  | { readonly kind: 'cannot-run'; readonly detail: string };

export interface OcfResult {
  readonly action: OcfAction;
  readonly outcome: OcfOutcome;
  readonly output: string;
  readonly stdout: string;
  readonly ms: number;
}

/** Maps an exit code to an outcome (unknown codes count as errors). */
export function ocfOutcome(code: number): OcfOutcome {
  switch (code) {
    case 0:
    case 190:
      return { kind: 'ok', code };
    case 7:
      return { kind: 'not-running' };
    case 8:
    case 191:
      return { kind: 'master', code };
    case 9:
      return { kind: 'failed-master' };
    default: {
      const known = CODE_INFO.get(code);
      return { kind: 'error', code, name: known?.name ?? `exit ${code}`, meaning: known?.meaning ?? 'not an OCF exit code' };
    }
  }
}

/** One line describing an outcome: `OCF_ERR_CONFIGURED (6): the resource is misconfigured ...`. */
export function describeOcf(r: OcfResult): string {
  const o = r.outcome;
  const out = r.output === '' ? '' : `: ${r.output}`;
  switch (o.kind) {
    case 'ok':
      return o.code === 0 ? `${r.action}: OCF_SUCCESS` : `${r.action}: OCF_DEGRADED (190)${out}`;
    case 'not-running':
      return `${r.action}: OCF_NOT_RUNNING (7)${out}`;
    case 'master':
      return `${r.action}: ${o.code === 8 ? 'OCF_RUNNING_MASTER (8)' : 'OCF_DEGRADED_MASTER (191)'}`;
    case 'failed-master':
      return `${r.action}: OCF_FAILED_MASTER (9): failed while promoted${out}`;
    case 'error':
      return `${r.action}: ${o.name} (${o.code}): ${o.meaning}${out}`;
    case 'timeout':
      return `${r.action}: no answer within ${o.timeoutMs} ms (killed)${out}`;
    case 'cannot-run':
      return `${r.action}: ${o.detail}`;
  }
}

export interface OcfAgentRef {
  /** Directory holding resource.d/ and lib/heartbeat/ (OCF_ROOT). */
  readonly ocfRoot: string;
  readonly provider: string;
  readonly type: string;
}

/** `heartbeat/Dummy` → provider and type; null when the name does not have that shape. */
export function parseAgentName(name: string, ocfRoot: string): OcfAgentRef | null {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(name);
  if (!m?.[1] || !m[2] || [m[1], m[2]].some((p) => p === '.' || p === '..')) return null;
  return { ocfRoot, provider: m[1], type: m[2] };
}

export function agentPath(a: OcfAgentRef): string {
  return join(a.ocfRoot, 'resource.d', a.provider, a.type);
}

/** Why `a` cannot be run here (not installed, not executable), or null when it can. */
export function agentProblem(a: OcfAgentRef): string | null {
  const p = agentPath(a);
  try {
    if (!statSync(p).isFile()) return `OCF agent ${a.provider}/${a.type}: ${p} is not a file`;
    accessSync(p, constants.X_OK);
    return null;
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
    if (code === 'ENOENT') {
      const hint = a.provider === 'heartbeat' ? ' (Debian: apt-get install -y resource-agents)' : '';
      return `OCF agent ${a.provider}/${a.type} is not installed: ${p} does not exist${hint}; \`halo agents list\` shows the installed ones`;
    }
    return `OCF agent ${a.provider}/${a.type}: ${p} is not executable (${code || String(e)})`;
  }
}

/** Installed agents under `<ocfRoot>/resource.d/<provider>/<type>` (executable files), sorted. */
export function listAgents(ocfRoot: string): OcfAgentRef[] {
  const base = join(ocfRoot, 'resource.d');
  const out: OcfAgentRef[] = [];
  let providers: string[];
  try {
    providers = readdirSync(base).sort();
  } catch {
    return [];
  }
  for (const provider of providers) {
    let types: string[];
    try {
      types = readdirSync(join(base, provider)).sort();
    } catch {
      continue; // not a directory
    }
    for (const type of types) {
      const a = { ocfRoot, provider, type };
      if (agentProblem(a) === null) out.push(a);
    }
  }
  return out;
}

/**
 * Runs OCF agent actions with the environment Pacemaker would give them: OCF_ROOT,
 * OCF_FUNCTIONS_DIR, OCF_RA_VERSION_*, OCF_RESOURCE_INSTANCE/TYPE/PROVIDER, OCF_RESKEY_<param>
 * and OCF_RESKEY_CRM_meta_timeout (ms; plus _interval for monitor). Each action is killed (its whole
 * process group) at its timeout. Never throws: every outcome is a value.
 */
export class OcfRunner {
  constructor(
    readonly agent: OcfAgentRef,
    /** OCF_RESOURCE_INSTANCE; '' leaves it unset (meta-data). */
    readonly instance: string,
    private readonly params: Readonly<Record<string, string>>,
  ) {}

  get path(): string {
    return agentPath(this.agent);
  }

  /** The environment of one action (also used for the fencing guard's stop). */
  env(action: OcfAction, timeoutMs: number, intervalMs = 0): Record<string, string> {
    const env: Record<string, string> = {
      OCF_ROOT: this.agent.ocfRoot,
      OCF_FUNCTIONS_DIR: join(this.agent.ocfRoot, 'lib', 'heartbeat'),
      OCF_RA_VERSION_MAJOR: '1',
      OCF_RA_VERSION_MINOR: '1',
      OCF_RESOURCE_TYPE: this.agent.type,
      OCF_RESOURCE_PROVIDER: this.agent.provider,
      OCF_RESKEY_CRM_meta_timeout: String(timeoutMs),
    };
    // meta-data is read without an instance, so defaults show as the agent documents them.
    if (this.instance !== '') env['OCF_RESOURCE_INSTANCE'] = this.instance;
    if (action === 'monitor') env['OCF_RESKEY_CRM_meta_interval'] = String(intervalMs);
    for (const [k, v] of Object.entries(this.params)) env[`OCF_RESKEY_${k}`] = v;
    return env;
  }

  async run(action: OcfAction, o: { readonly timeoutMs: number; readonly intervalMs?: number; readonly signal?: AbortSignal }): Promise<OcfResult> {
    const startedAt = Date.now();
    const problem = agentProblem(this.agent);
    if (problem !== null) return { action, outcome: { kind: 'cannot-run', detail: problem }, output: '', stdout: '', ms: 0 };
    const env = { ...baseEnv(), ...this.env(action, o.timeoutMs, o.intervalMs ?? 0) };
    const r = await runTool(this.path, [action], { env, timeoutMs: o.timeoutMs, cwd: '/', ...(o.signal ? { signal: o.signal } : {}) });
    const ms = Date.now() - startedAt;
    const output = action === 'meta-data' ? r.stderr.trim().slice(0, 300) : toolOutput(r);
    if (r.spawnError !== null) return { action, outcome: { kind: 'cannot-run', detail: `cannot run ${this.path}: ${r.spawnError}` }, output, stdout: r.stdout, ms };
    if (r.timedOut || r.code === null) return { action, outcome: { kind: 'timeout', timeoutMs: o.timeoutMs }, output, stdout: r.stdout, ms };
    return { action, outcome: ocfOutcome(r.code), output, stdout: r.stdout, ms };
  }
}

/** The agent's environment: ours without halo's own variables and any stale OCF_ settings. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OCF_') && !k.startsWith('HALO_')) env[k] = v;
  env['PATH'] = `${env['PATH'] ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`;
  return env;
}
