import type { EndpointConfig, HaloConfig } from '../domain/config.js';
import { endpointListenAddress } from '../domain/config.js';
import type { GroupId, NodeId } from '../domain/ids.js';
import type { ClusterSnapshot } from '../coord/snapshot.js';
import { decideEndpointTarget, targetKey, type EndpointTarget } from '../core/endpoint.js';
import type { Logger } from '../observability/log.js';
import type { GateState } from './gate.js';
import { HttpEndpoint } from './http.js';
import { TcpEndpoint } from './tcp.js';
import type { Endpoint, EndpointStatus } from './types.js';

export interface EndpointManagerDeps {
  readonly node: NodeId;
  readonly log: Logger;
  /**
   * Tell the controller this node's endpoints of `group` hold new connections and have none in
   * flight to the old active, for the drain (epoch, startedAt). Called once per drain; the
   * callee retries on its own if the write fails (see Agent).
   */
  readonly reportDrained: (group: GroupId, epoch: number, startedAt: number) => void;
}

interface Running {
  readonly group: GroupId;
  readonly spec: string;
  readonly cfg: EndpointConfig;
  readonly ep: Endpoint;
  started: boolean;
}

/** How long a listener that failed to start waits before it is tried again. */
const RELISTEN_MS = 1000;

/**
 * Runs this node's endpoints of every group and points them at the group's current target
 * (decideEndpointTarget) after each change of the cluster view. Listeners are created, replaced
 * (when their definition changed) and closed to match the configuration.
 */
export class EndpointManager {
  private readonly running = new Map<string, Running>();
  private readonly targets = new Map<GroupId, EndpointTarget>();
  private readonly reported = new Map<GroupId, string>();
  private readonly failedAt = new Map<string, number>();
  private closed = false;

  constructor(private readonly deps: EndpointManagerDeps) {}

  /** Bring listeners and targets in line with `cfg` and `snap`. Cheap when nothing changed. */
  update(cfg: HaloConfig, snap: ClusterSnapshot): void {
    if (this.closed) return;
    const self = cfg.nodes.find((n) => n.name === this.deps.node);
    if (!self) return;
    const want = new Set<string>();
    for (const g of cfg.groups) {
      for (const e of g.endpoints) {
        const listen = endpointListenAddress(e, self.address);
        const id = `${g.name}/${e.name}`;
        const spec = JSON.stringify([listen, e]);
        want.add(id);
        const cur = this.running.get(id);
        if (cur && cur.spec === spec) continue;
        if (cur) {
          this.running.delete(id);
          void cur.ep.close();
        }
        const last = this.failedAt.get(id);
        if (last !== undefined && Date.now() - last < RELISTEN_MS) continue;
        this.open(id, g.name, e, listen, spec);
      }
      const a = snap.assignments.get(g.name)?.value;
      const active = a?.active ?? null;
      const target = decideEndpointTarget({
        assignment: a,
        activeOnline: active !== null && snap.sessions.has(active),
        activeStatus: active === null ? undefined : snap.status.get(active)?.get(g.name)?.value,
      });
      this.apply(cfg, g.name, target);
    }
    for (const [id, r] of this.running) {
      if (want.has(id)) continue;
      this.running.delete(id);
      void r.ep.close();
    }
    for (const gname of [...this.targets.keys()]) if (!cfg.groups.some((g) => g.name === gname)) this.targets.delete(gname);
  }

  status(): EndpointStatus[] {
    return [...this.running.values()].filter((r) => r.started).map((r) => r.ep.status());
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.allSettled(all.map((r) => r.ep.close()));
  }

  private open(id: string, group: GroupId, e: EndpointConfig, listen: string, spec: string): void {
    const log = this.deps.log;
    const ep: Endpoint = e.mode === 'http' ? new HttpEndpoint(group, e, listen, log) : new TcpEndpoint(group, e, listen, log);
    const r: Running = { group, spec, cfg: e, ep, started: false };
    this.running.set(id, r);
    ep.onIdle(() => this.checkDrained(group));
    const t = this.targets.get(group);
    if (t) ep.follow(this.gateState(t, e, this.addresses));
    ep.start().then(
      () => {
        r.started = true;
        this.failedAt.delete(id);
        log.info({ node: this.deps.node, group, endpoint: e.name, listen: `${listen}:${e.port}`, mode: e.mode }, 'endpoint listening');
        this.checkDrained(group);
      },
      (err: unknown) => {
        if (this.running.get(id) === r) this.running.delete(id);
        this.failedAt.set(id, Date.now());
        log.error({ node: this.deps.node, group, endpoint: e.name, listen: `${listen}:${e.port}`, err: err instanceof Error ? err.message : String(err) }, 'endpoint could not listen; trying again');
      },
    );
  }

  private addresses = new Map<string, string>();

  private gateState(t: EndpointTarget, e: EndpointConfig, addresses: ReadonlyMap<string, string>): GateState {
    switch (t.kind) {
      case 'forward': {
        const host = addresses.get(t.node);
        if (host === undefined) return { kind: 'held', reason: `node ${t.node} is not in the configuration`, draining: false };
        return { kind: 'open', backend: { host, port: e.backendPort, key: `${host}:${e.backendPort}` } };
      }
      case 'drain':
        return { kind: 'held', reason: `draining ${t.node} for a planned move`, draining: true };
      case 'hold':
        return { kind: 'held', reason: t.reason, draining: false };
    }
  }

  private apply(cfg: HaloConfig, group: GroupId, target: EndpointTarget): void {
    this.addresses = new Map(cfg.nodes.map((n) => [n.name, n.address]));
    const prev = this.targets.get(group);
    const changed = prev === undefined || targetKey(prev) !== targetKey(target);
    this.targets.set(group, target);
    if (changed) {
      this.deps.log.info({ node: this.deps.node, group, target: targetKey(target), ...(target.kind === 'hold' ? { reason: target.reason } : {}) }, 'endpoints follow');
      for (const r of this.running.values()) if (r.group === group) r.ep.follow(this.gateState(target, r.cfg, this.addresses));
    }
    this.checkDrained(group);
  }

  /** Report a drain once every endpoint of the group on this node has nothing in flight. */
  private checkDrained(group: GroupId): void {
    const t = this.targets.get(group);
    if (t?.kind !== 'drain') return;
    const key = targetKey(t);
    if (this.reported.get(group) === key) return;
    for (const r of this.running.values()) if (r.group === group && !r.ep.idle) return;
    this.reported.set(group, key);
    this.deps.reportDrained(group, t.epoch, t.startedAt);
  }
}
