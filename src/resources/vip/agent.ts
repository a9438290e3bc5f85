import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { VipResourceConfig } from '../../domain/config.js';
import { substituteNodeVars } from '../../domain/node-vars.js';
import { SystemClock, type Clock } from '../../platform/clock.js';
import { runTool, toolOutput, type ToolResult } from '../exec.js';
import { fenceActionArmed, lastFenceAction, releaseFenceAction, startFenceAction } from '../fence-action.js';
import type { ActionResult, Observation, ResourceAgent, ResourceContext } from '../types.js';

/** Commands a VipAgent runs; tests may point them elsewhere. */
export interface VipTools {
  readonly ip: string;
  readonly arping: string;
}

const DEFAULT_TOOLS: VipTools = { ip: 'ip', arping: 'arping' };
const IP_TIMEOUT_MS = 5_000;
const ARPING_TIMEOUT_MS = 5_000;
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
export const ARPING_INSTALL_HINT = 'apt-get install -y arping (Debian\'s arping, which takes -i IFACE), or set arpCount: 0';
export const PRIVILEGE_HINT =
  'run the halo agent as root, or give it CAP_NET_ADMIN and CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; ' +
  'a plain process: setcap cap_net_admin,cap_net_raw+ep on the node binary)';

/** Whether this process holds capability `bit` in its effective set (root without it does not count). */
export function hasCapability(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m?.[1]) return false;
    return (BigInt(`0x${m[1]}`) & (1n << BigInt(bit))) !== 0n;
  } catch {
    return false;
  }
}

/** First executable `name` on PATH (or `name` itself when it contains a slash), else null. */
export function findExecutable(name: string): string | null {
  const candidates = name.includes('/') ? [name] : [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter((d) => d !== '').map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

/** The state of the address on the interface, from `ip -o -4 addr show dev IFACE`. */
type AddressState =
  | { readonly kind: 'present' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'no-interface'; readonly detail: string }
  | { readonly kind: 'error'; readonly detail: string };

/**
 * A `vip` resource: a floating IPv4 address on an interface of the active node.
 *
 *  - start: check privileges and the interface, start a fence-action guard (it removes the address
 *    once the node's fence deadline passes, even when this agent is dead), `ip addr add`, then a
 *    gratuitous ARP (`arping -U`) so neighbours switch to this host's MAC at once instead of after
 *    their cache times out. arping runs in the background: its packet leaves in milliseconds, but
 *    the tool itself waits out its `-w` deadline.
 *  - stop: `ip addr del`, then the guard is released.
 *  - probe: the address is on the interface (`ip -o -4 addr show`).
 *  - exited: resolves when the address disappears while it should be there (checked every
 *    `checkIntervalMs`): someone removed it, the interface went away, or the guard fenced it.
 *
 * Idempotent: adding an address that is there and removing one that is not are successes.
 */
export class VipAgent implements ResourceAgent {
  readonly config: VipResourceConfig;
  private readonly iface: string;
  private readonly cidr: string;
  private readonly clock: Clock = new SystemClock();

  constructor(
    config: VipResourceConfig,
    vars: Record<string, string> = {},
    private readonly tools: VipTools = DEFAULT_TOOLS,
  ) {
    this.config = config;
    this.iface = substituteNodeVars(config.interface, vars);
    this.cidr = `${config.address}/${config.prefixLength}`;
  }

  private get what(): string {
    return `${this.cidr} on ${this.iface}`;
  }

  async probe(_ctx: ResourceContext, signal?: AbortSignal): Promise<Observation> {
    signal?.throwIfAborted();
    const s = await this.observeAddress(signal);
    switch (s.kind) {
      case 'present':
        return { kind: 'running', pid: null, startedAt: null, detail: `${this.what}` };
      case 'absent':
        return { kind: 'stopped', detail: `${this.cidr} not on ${this.iface}${fenced(_ctx)}` };
      case 'no-interface':
      case 'error':
        return { kind: 'failed', detail: s.detail };
    }
  }

  async start(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const pre = this.preflight();
    if (pre !== null) return pre;
    const before = await this.observeAddress(signal);
    if (before.kind === 'no-interface' || before.kind === 'error') return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: before.detail };
    if (signal?.aborted === true) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: 'start aborted before it began' };
    mkdirSync(ctx.stateDir, { recursive: true });
    try {
      // The guard first: from the moment the address exists, something that outlives us removes it at the fence deadline.
      await startFenceAction({
        command: this.tools.ip,
        args: ['addr', 'del', this.cidr, 'dev', this.iface],
        env: {},
        stateDir: ctx.stateDir,
        fenceFile: ctx.fenceFile,
        timeoutMs: this.config.stopTimeoutMs,
      });
    } catch (e) {
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.what}: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (!fenceActionArmed(ctx.stateDir)) {
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.what}: not started: ${lastFenceAction(ctx.stateDir) ?? 'the fence-action guard is gone'}` };
    }
    if (before.kind === 'absent') {
      const r = await this.ip(['addr', 'add', this.cidr, 'dev', this.iface], signal);
      if (r.code !== 0 && !/already assigned|File exists/i.test(r.stderr)) {
        await releaseFenceAction(ctx.stateDir);
        if (r.timedOut) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: `ip addr add ${this.what} did not finish` };
        return { ok: false, code: isPermission(r) ? 'HA_PERMISSION' : 'HA_RESOURCE_START_FAILED', detail: `ip addr add ${this.what} failed: ${toolOutput(r)}${isPermission(r) ? `; ${PRIVILEGE_HINT}` : ''}` };
      }
    }
    if (!fenceActionArmed(ctx.stateDir)) {
      // The fence deadline passed during the start and the guard already ran its removal, maybe
      // before our add: the address must not stay without a guard.
      await this.ip(['addr', 'del', this.cidr, 'dev', this.iface]);
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `${this.what}: fenced during start${fenced(ctx)}` };
    }
    const arp = this.announce();
    return { ok: true, detail: `${this.what}${before.kind === 'present' ? ' (already there)' : ' added'}${arp}` };
  }

  async stop(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    const s = await this.observeAddress(signal);
    if (s.kind === 'present') {
      const r = await this.ip(['addr', 'del', this.cidr, 'dev', this.iface], signal);
      if (r.code !== 0 && !/not found|Cannot assign/i.test(r.stderr)) {
        if (r.timedOut) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: `ip addr del ${this.what} did not finish` };
        return { ok: false, code: isPermission(r) ? 'HA_PERMISSION' : 'HA_RESOURCE_STOP_FAILED', detail: `ip addr del ${this.what} failed: ${toolOutput(r)}` };
      }
    } else if (s.kind === 'error') {
      return { ok: false, code: 'HA_RESOURCE_STOP_FAILED', detail: s.detail };
    }
    // An interface that is gone took the address with it: nothing is left to remove.
    await releaseFenceAction(ctx.stateDir);
    return { ok: true, detail: s.kind === 'present' ? `${this.what} removed` : `${this.cidr} was not on ${this.iface}` };
  }

  async exited(ctx: ResourceContext, signal: AbortSignal): Promise<string> {
    for (;;) {
      signal.throwIfAborted();
      const s = await this.observeAddress(signal);
      signal.throwIfAborted();
      if (s.kind === 'absent') return `${this.cidr} disappeared from ${this.iface}${fenced(ctx)}`;
      if (s.kind === 'no-interface') return s.detail;
      await this.clock.sleep(this.config.checkIntervalMs, signal);
    }
  }

  /** HA_PERMISSION or a missing arping, before anything is changed; null when start may go ahead. */
  preflight(): ActionResult | null {
    if (process.platform !== 'linux') return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `vip ${this.config.name}: floating IPs need Linux (ip and arping)` };
    if (!hasCapability(CAP_NET_ADMIN)) {
      return { ok: false, code: 'HA_PERMISSION', detail: `vip ${this.config.name}: adding ${this.what} needs root or CAP_NET_ADMIN, which this agent (uid ${process.getuid?.() ?? '?'}) does not have: ${PRIVILEGE_HINT}` };
    }
    if (this.config.arpCount > 0) {
      if (!hasCapability(CAP_NET_RAW)) {
        return { ok: false, code: 'HA_PERMISSION', detail: `vip ${this.config.name}: gratuitous ARP for ${this.config.address} needs CAP_NET_RAW, which this agent does not have: ${PRIVILEGE_HINT}` };
      }
      if (findExecutable(this.tools.arping) === null) return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `vip ${this.config.name}: ${this.tools.arping} not found; ${ARPING_INSTALL_HINT}` };
    }
    if (this.iface.length > 15) return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `vip ${this.config.name}: interface name "${this.iface}" is longer than 15 characters` };
    return null;
  }

  // ---------------------------------------------------------------------------------------------

  private ip(args: readonly string[], signal?: AbortSignal): Promise<ToolResult> {
    return runTool(this.tools.ip, args, { timeoutMs: IP_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }

  private async observeAddress(signal?: AbortSignal): Promise<AddressState> {
    const r = await this.ip(['-o', '-4', 'addr', 'show', 'dev', this.iface], signal);
    if (r.spawnError !== null) return { kind: 'error', detail: `cannot run ${this.tools.ip} (${r.spawnError}): install iproute2 (apt-get install -y iproute2)` };
    if (r.code !== 0) {
      if (/does not exist|Cannot find device/i.test(r.stderr)) return { kind: 'no-interface', detail: `vip ${this.config.name}: interface ${this.iface} does not exist on this node (ip link shows the ones that do)` };
      return { kind: 'error', detail: `ip addr show dev ${this.iface} failed: ${toolOutput(r)}` };
    }
    const want = ` ${this.cidr} `;
    return r.stdout.split('\n').some((l) => l.includes(` inet${want}`)) ? { kind: 'present' } : { kind: 'absent' };
  }

  /** Sends the gratuitous ARP in the background; returns a note for the start detail. */
  private announce(): string {
    const n = this.config.arpCount;
    if (n === 0) return '';
    const args = ['-q', '-U', '-c', String(n), '-w', String(Math.max(1, n)), '-i', this.iface, '-S', this.config.address, this.config.address];
    try {
      const child = spawn(this.tools.arping, args, { stdio: 'ignore' });
      child.once('error', () => undefined);
      const t = setTimeout(() => child.kill('SIGKILL'), ARPING_TIMEOUT_MS);
      t.unref();
      child.once('exit', () => clearTimeout(t));
      child.unref();
      return `, gratuitous ARP sent (${n})`;
    } catch (e) {
      return `, gratuitous ARP failed: ${String(e)}`;
    }
  }
}

function isPermission(r: ToolResult): boolean {
  return /Operation not permitted|Permission denied/i.test(r.stderr);
}

function fenced(ctx: ResourceContext): string {
  if (fenceActionArmed(ctx.stateDir)) return '';
  const f = lastFenceAction(ctx.stateDir);
  return f === null ? '' : ` (${f})`;
}
