import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAcks, type Ack } from '../../fixtures/mirror/records.js';
import { NetnsCluster } from './cluster.js';
import type { NetnsHosts } from './hosts.js';

/**
 * A NetnsCluster whose group "web" also runs a `mirror` of <dir>/data/<node> (port 7700) and, after
 * it, the durability writer (fixtures/mirror/writer.ts: numbered records appended to <mirror>/log,
 * each fsynced, then acknowledged in <dir>/acks) and optionally the SQLite driver
 * (fixtures/mirror/sqlite-writer.ts: <mirror>/app.db, acknowledged in <dir>/sql-acks). In sync mode
 * both applications run with the fsync shim preloaded. The nodes' certificates for the mirror link
 * (security.tls) are the cluster's (NetnsCluster).
 */

const WRITER = fileURLToPath(new URL('../../fixtures/mirror/writer.js', import.meta.url));
const SQL_WRITER = fileURLToPath(new URL('../../fixtures/mirror/sqlite-writer.js', import.meta.url));
export const MIRROR_PORT = 7700;
/** Bytes of one writer record (fixtures/mirror/records.ts), newline included. */
export const RECORD_BYTES = 57;

export async function mirrorCluster(hosts: NetnsHosts, o: { readonly name: string; readonly mode: 'sync' | 'async'; readonly sqlite: boolean }): Promise<NetnsCluster> {
  // The mirror link is mutually authenticated TLS with the node certificates NetnsCluster makes
  // for every cluster (security.tls: CN = host name, signed by the cluster's CA).
  return new NetnsCluster(hosts, {
    name: o.name,
    recovery: { failureTimeoutMs: 5000 },
    configure: (doc) => {
      const state = String(doc.getIn(['stateDir']));
      const dir = dirname(state);
      const data = join(dir, 'data', '${HALO_NODE}');
      doc.setIn(['groups', 0, 'resources', 1], doc.createNode({ name: 'data', type: 'mirror', path: data, port: MIRROR_PORT, mode: o.mode, scanIntervalMs: 50, syncTimeoutMs: 1500 }));
      const shim =
        o.mode === 'sync'
          ? {
              LD_PRELOAD: join(state, '${HALO_NODE}', 'mirror', 'halo-fsync.so'),
              HALO_MIRROR_DIR: data,
              HALO_MIRROR_SOCKET: join(state, '${HALO_NODE}', 'web', 'data', 'fsync.sock'),
            }
          : {};
      const writer = (name: string, script: string, file: string, acks: string, intervalMs: number) =>
        doc.createNode({ name, type: 'process', command: process.execPath, args: [script, join(data, file)], stopTimeoutMs: 1000, env: { ...shim, HALO_T_ACK_FILE: join(dir, acks), HALO_T_INTERVAL_MS: String(intervalMs) } });
      doc.setIn(['groups', 0, 'resources', 2], writer('writer', WRITER, 'log', 'acks', 20));
      if (o.sqlite) doc.setIn(['groups', 0, 'resources', 3], writer('sqlite', SQL_WRITER, 'app.db', 'sql-acks', 50));
    },
  });
}

/** The mirrored directory of `node`. */
export const dataOf = (c: NetnsCluster, node: string): string => join(c.dir, 'data', node);

/** Acknowledgements so far (`acks`: the record writer, `sql-acks`: the SQLite driver). */
export function acksOf(c: NetnsCluster, file: 'acks' | 'sql-acks' = 'acks'): Ack[] {
  const f = join(c.dir, file);
  return existsSync(f) ? parseAcks(readFileSync(f, 'utf8')) : [];
}
