import type { FastifyInstance } from 'fastify';
import { buildApi, type ApiDeps } from '../../src/api/server.js';
import type { Coordinator } from '../../src/coord/coordinator.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { parseGroupId, parseNodeId, type NodeId } from '../../src/domain/ids.js';
import { clusterKeys } from '../../src/domain/keys.js';
import type { Assignment, GroupStatus, NodeSession } from '../../src/domain/state.js';
import { ManualClock } from '../../src/platform/clock.js';
import { injectAs, makeToken } from '../support/auth.js';

export const CLUSTER = 'demo';
export const n1 = parseNodeId('n1');
export const n2 = parseNodeId('n2');
export const n3 = parseNodeId('n3');
export const web = parseGroupId('web');
export const keys = clusterKeys(CLUSTER);

export const CONFIG_YAML = `cluster: demo
coordinator:
  kind: memory
nodes:
  - name: n1
    apiPort: 7401
    labels: { site: east }
  - name: n2
    apiPort: 7402
  - name: n3
    apiPort: 7403
groups:
  - name: web
    resources:
      - name: app
        type: process
        command: /bin/sleep
        args: ["1000"]
  - name: db
    preferredNodes: [n2, n3]
    resources:
      - name: pg
        type: process
        command: /bin/sleep
        args: ["1000"]
`;

export interface Harness {
  readonly app: FastifyInstance;
  readonly coord: MemoryCoordinator;
  readonly clock: ManualClock;
  /** The admin token every inject() sends unless the request names its own authorization. */
  readonly token: string;
  close(): Promise<void>;
}

/**
 * An API over a fresh MemoryCoordinator; `wrap` lets a test put a fault-injecting coordinator in
 * between, `deps` sets further API options. With `anonymous`, inject() sends no credential of its
 * own (security tests name theirs on every request).
 */
export async function harness(
  opts: { wrap?: (c: Coordinator) => Coordinator; now?: number; deps?: Partial<ApiDeps>; anonymous?: boolean } = {},
): Promise<Harness> {
  const clock = new ManualClock(opts.now ?? 0);
  const coord = new MemoryCoordinator({ clock });
  const app = await buildApi({ ...opts.deps, coord: opts.wrap ? opts.wrap(coord) : coord, cluster: CLUSTER, self: n1, clock, logger: false });
  await app.ready();
  const token = await makeToken(coord, CLUSTER, 'admin');
  if (opts.anonymous !== true) injectAs(app, token);
  return {
    app,
    coord,
    clock,
    token,
    async close() {
      await app.close();
      await coord.close();
    },
  };
}

export async function applyConfig(app: FastifyInstance, source = CONFIG_YAML, token?: string): Promise<void> {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const res = await app.inject({ method: 'POST', url: '/v1/config', payload: { source, file: 'halo.yaml' }, headers });
  if (res.statusCode !== 200) throw new Error(`config apply failed: ${res.statusCode} ${res.body}`);
}

export async function putSession(coord: Coordinator, node: NodeId): Promise<void> {
  const s: NodeSession = { node, sessionId: `s-${node}`, pid: 1000, startedAt: 1, apiUrl: `http://127.0.0.1:0/${node}`, leaseTtlMs: 2000 };
  await coord.put(keys.node(node), JSON.stringify(s));
}

export async function putAssignment(coord: Coordinator, a: Partial<Assignment> & Pick<Assignment, 'active'>): Promise<void> {
  const full: Assignment = { group: web, epoch: 3, standbys: [], transition: null, updatedAt: 5, ...a };
  await coord.put(keys.assign(full.group), JSON.stringify(full));
}

/**
 * A configured cluster for the security tests: `source` applied by an admin, n1 and n2 online, web
 * active on n1 (standby n2) and db on n2; inject() sends no credential of its own.
 */
export async function seededCluster(source: string, deps: Partial<ApiDeps> = {}): Promise<Harness> {
  const h = await harness({ now: 1_700_000_000_000, deps: { credentialCacheMs: 0, ...deps }, anonymous: true });
  await applyConfig(h.app, source, h.token);
  await putSession(h.coord, n1);
  await putSession(h.coord, n2);
  await putAssignment(h.coord, { active: n1, standbys: [n2] });
  await putAssignment(h.coord, { group: parseGroupId('db'), active: n2, standbys: [] });
  return h;
}

export async function putStatus(coord: Coordinator, s: Partial<GroupStatus> & Pick<GroupStatus, 'node' | 'role' | 'state'>): Promise<void> {
  const full: GroupStatus = { group: web, epoch: 3, resources: [], updatedAt: 6, detail: '', ...s };
  await coord.put(keys.status(full.node, full.group), JSON.stringify(full));
}

/** Parses an inject() body as JSON (fails the test with the raw text when it is not). */
export function json(body: string): unknown {
  return JSON.parse(body);
}

/** A coordinator whose txn runs `hook` first: lets a test put a concurrent write between read and CAS. */
export function withTxnHook(inner: Coordinator, hook: () => Promise<void>): Coordinator {
  return {
    get: (k, o) => inner.get(k, o),
    list: (p, o) => inner.list(p, o),
    put: (k, v, o) => inner.put(k, v, o),
    delete: (k, o) => inner.delete(k, o),
    deletePrefix: (p, o) => inner.deletePrefix(p, o),
    txn: async (c, ops, o) => {
      await hook();
      return inner.txn(c, ops, o);
    },
    grantLease: (t, o) => inner.grantLease(t, o),
    renewLease: (id, o) => inner.renewLease(id, o),
    revokeLease: (id, o) => inner.revokeLease(id, o),
    watch: (p, r, o) => inner.watch(p, r, o),
    close: () => inner.close(),
  };
}
