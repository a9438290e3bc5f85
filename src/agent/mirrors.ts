import { join } from 'node:path';
import type { Coordinator } from '../coord/coordinator.js';
import { decodeRecord } from '../coord/snapshot.js';
import { candidateNodes, type HaloConfig, type MirrorResourceConfig } from '../domain/config.js';
import { ClusterError } from '../domain/errors.js';
import type { GroupId, NodeId } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import type { ClusterEvent } from '../domain/state.js';
import { substituteNodeVars } from '../domain/node-vars.js';
import { MirrorSyncRecordSchema, type MirrorSyncRecord } from '../domain/state.js';
import { appendEvent } from '../observability/events.js';
import { ensureNative } from '../platform/native.js';
import { MirrorAgent } from '../resources/mirror/agent.js';
import type { TlsMaterial } from '../security/tls.js';

export interface MirrorServiceDeps {
  readonly config: HaloConfig;
  readonly node: NodeId;
  readonly coord: Coordinator;
  /** The node's state directory; each mirror keeps its journal and fsync socket under <group>/<resource>. */
  readonly stateDir: string;
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Per-node placeholders (`${HALO_NODE}`, `${HALO_NODE_ADDRESS}`) expanded in a mirror's `path`. */
  readonly vars?: Readonly<Record<string, string>>;
  /**
   * The node's TLS identity (security.tls), which every mirror link authenticates with. Undefined
   * only for a config without mirrors: the config schema requires security.tls for a group with a
   * mirror, and a mirror without it is refused here.
   */
  readonly tls: TlsMaterial | undefined;
}

/**
 * The node's mirror resources: one long-lived MirrorAgent per (group, mirror resource) of every
 * group this node is a candidate for. Each serves as a standby (receiver) from start(); the group
 * runner gets the same object through `agentFor` and turns it into the active when it starts the
 * resource. Receiver events (quarantine) become cluster events.
 */
export class MirrorService {
  private readonly agents = new Map<string, MirrorAgent>();
  private readonly publishing = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: MirrorServiceDeps) {}

  /** Where the fsync shim is compiled (sync-mode mirrors): LD_PRELOAD this for the application. */
  get shimPath(): string {
    return join(this.deps.stateDir, 'mirror', 'halo-fsync.so');
  }

  agentFor(r: MirrorResourceConfig): MirrorAgent {
    const cfg = this.deps.config;
    const group = cfg.groups.find((g) => g.resources.some((x) => x === r || (x.type === 'mirror' && x.name === r.name && x.path === r.path)));
    if (!group) throw new ClusterError('HA_INTERNAL', `mirror resource "${r.name}" belongs to no group`);
    const existing = this.agents.get(`${group.name}/${r.name}`);
    if (existing) return existing;
    const tls = this.deps.tls;
    if (tls === undefined) {
      throw new ClusterError('HA_CONFIG_INVALID', `mirror "${group.name}/${r.name}" needs security.tls: the mirror link is mutually authenticated with the cluster's certificates (create them with "halo certs")`);
    }
    const self = cfg.nodes.find((n) => n.name === this.deps.node);
    const peers = candidateNodes(cfg, group)
      .filter((n) => n !== this.deps.node)
      .map((n) => ({ name: n, host: cfg.nodes.find((x) => x.name === n)?.address ?? '127.0.0.1', port: r.port }));
    const keys = clusterKeys(cfg.cluster);
    const key = keys.mirror(group.name, r.name);
    const agent = new MirrorAgent({ ...r, path: substituteNodeVars(r.path, this.deps.vars) }, {
      node: this.deps.node,
      group: group.name,
      address: self?.address ?? '127.0.0.1',
      peers,
      metaDir: join(this.deps.stateDir, group.name, r.name),
      tls,
      publish: async (rec) => await this.publish(key, rec),
      onEvent: (e) => {
        if (e.kind === 'quarantined') {
          this.event(group.name, r, 'mirror-quarantined', `${e.paths.length} divergent file(s) of ${r.path} set aside in ${e.dir} before resync at epoch ${e.epoch}: ${e.paths.slice(0, 10).join(', ')}${e.paths.length > 10 ? ', ...' : ''}`, e.epoch);
        } else if (e.kind === 'in-sync' && !e.inSync) {
          this.event(group.name, r, 'mirror-out-of-sync', `standby ${e.standby} left the in-sync set of ${r.path}`, null);
        } else if (e.kind === 'unauthenticated') {
          this.deps.log.warn({ group: group.name, resource: r.name, peer: e.address }, `mirror connection refused before any frame: ${e.reason}`);
        } else if (e.kind === 'link-down') {
          this.deps.log.warn({ group: group.name, resource: r.name, standby: e.standby, code: e.code }, `mirror link down: ${e.message}`);
        } else if (e.kind === 'link-up' || e.kind === 'resynced' || e.kind === 'in-sync' || e.kind === 'session' || e.kind === 'refused') {
          this.deps.log.info({ group: group.name, resource: r.name, ...e }, `mirror ${e.kind}`);
        }
      },
    });
    this.agents.set(`${group.name}/${r.name}`, agent);
    return agent;
  }

  /** Start receivers for every mirror of every group this node may run; compile the shim if needed. */
  async start(): Promise<void> {
    const cfg = this.deps.config;
    let sync = false;
    for (const g of cfg.groups) {
      if (!candidateNodes(cfg, g).includes(this.deps.node)) continue;
      for (const r of g.resources) {
        if (r.type !== 'mirror') continue;
        sync ||= r.mode === 'sync';
        try {
          await this.agentFor(r).serveStandby();
        } catch (e) {
          this.deps.log.warn({ group: g.name, resource: r.name, err: e instanceof Error ? e.message : String(e) }, 'mirror receiver could not start');
        }
      }
    }
    if (sync) {
      try {
        await ensureNative('halo-fsync.so', join(this.deps.stateDir, 'mirror'));
      } catch (e) {
        this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'fsync shim unavailable: sync-mode applications cannot preload it');
      }
    }
  }

  /**
   * Writes a mirror record only over an older one. Publications of one key run one at a time in
   * call order (a record is built right before its publish call, so later calls carry newer
   * records). Each is a compare-and-swap on the key's revision, and nothing is written when the
   * stored record is of a newer epoch or of the same epoch with a later time. A put that timed out
   * (outcome unknown) and lands late can then never replace a newer record, e.g. put an in-sync set
   * back after a standby was removed from it; the old active of an earlier epoch never replaces
   * the new active's record.
   */
  private publish(key: string, rec: MirrorSyncRecord): Promise<void> {
    const prev = this.publishing.get(key) ?? Promise.resolve();
    const p = prev.then(async () => {
      await putMirrorRecord(this.deps.coord, key, rec);
    });
    this.publishing.set(key, p.catch(() => undefined));
    return p;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.agents.values()].map((a) => a.close()));
  }

  private event(group: GroupId, r: MirrorResourceConfig, kind: ClusterEvent['kind'], message: string, epoch: number | null): void {
    const ev: ClusterEvent = { at: Date.now(), kind, node: this.deps.node, group, resource: r.name, message, epoch };
    void appendEvent(this.deps.coord, this.deps.config.cluster, ev).catch(() => undefined);
  }
}

/**
 * Stores `rec` at `key` unless the stored record is newer: compare-and-swap on the key's revision
 * (retried when another write came in between). Same epoch and a later `updatedAt` stored:
 * nothing is written. A newer epoch stored: HA_MIRROR_STALE_EPOCH.
 */
export async function putMirrorRecord(coord: Coordinator, key: string, rec: MirrorSyncRecord, opts: { readonly signal?: AbortSignal } = {}): Promise<'written' | 'superseded'> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await coord.get(key, opts);
    if (cur) {
      const stored = decodeRecord(MirrorSyncRecordSchema, cur, []);
      if (stored && stored.epoch > rec.epoch) {
        throw new ClusterError('HA_MIRROR_STALE_EPOCH', `mirror record of epoch ${stored.epoch} supersedes this node's epoch ${rec.epoch}`);
      }
      if (stored && stored.epoch === rec.epoch && stored.updatedAt > rec.updatedAt) return 'superseded';
    }
    const r = await coord.txn([{ key, modRevision: cur ? cur.modRevision : 'absent' }], [{ kind: 'put', key, value: JSON.stringify(rec) }], opts);
    if (r.ok) return 'written';
  }
  throw new ClusterError('HA_CONFLICT', `mirror record ${key}: the stored record kept changing`);
}
