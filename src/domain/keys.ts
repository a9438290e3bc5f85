import type { GroupId, NodeId, ResourceId } from './ids.js';

/** Every coordinator key halo uses, relative to one cluster's prefix. */
export function clusterKeys(cluster: string) {
  const p = `/halo/${cluster}/`;
  return {
    prefix: p,
    config: `${p}config`,
    controller: `${p}controller`,
    nodesPrefix: `${p}nodes/`,
    node: (n: NodeId) => `${p}nodes/${n}`,
    assignPrefix: `${p}assign/`,
    assign: (g: GroupId) => `${p}assign/${g}`,
    statusPrefix: `${p}status/`,
    status: (n: NodeId, g: GroupId) => `${p}status/${n}/${g}`,
    drainPrefix: `${p}drain/`,
    drain: (g: GroupId, n: NodeId) => `${p}drain/${g}/${n}`,
    failuresPrefix: `${p}failures/`,
    failure: (g: GroupId, n: NodeId) => `${p}failures/${g}/${n}`,
    intentsPrefix: `${p}intents/`,
    maintenanceCluster: `${p}intents/maintenance/cluster`,
    maintenanceGroup: (g: GroupId) => `${p}intents/maintenance/group/${g}`,
    maintenanceNode: (n: NodeId) => `${p}intents/maintenance/node/${n}`,
    standby: (n: NodeId) => `${p}intents/standby/${n}`,
    move: (g: GroupId) => `${p}intents/move/${g}`,
    mirrorPrefix: `${p}mirror/`,
    mirror: (g: GroupId, r: ResourceId) => `${p}mirror/${g}/${r}`,
    eventsPrefix: `${p}events/`,
    journalPrefix: `${p}journal/`,
    journal: (g: GroupId) => `${p}journal/${g}/`,
    tokensPrefix: `${p}security/tokens/`,
    token: (id: string) => `${p}security/tokens/${id}`,
    sessionsPrefix: `${p}security/sessions/`,
    session: (id: string) => `${p}security/sessions/${id}`,
    auditPrefix: `${p}audit/`,
  } as const;
}
export type ClusterKeys = ReturnType<typeof clusterKeys>;
