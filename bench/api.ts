import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApi } from '../src/api/server.js';
import { MemoryCoordinator } from '../src/coord/memory/index.js';
import { parseNodeId } from '../src/domain/ids.js';
import { SystemClock } from '../src/platform/clock.js';
import { createCa, issueCert } from '../src/security/certs.js';
import { createToken } from '../src/security/credentials.js';
import { clusterFetch } from '../src/security/fetch.js';
import { summarize, type Summary } from './stats.js';

/**
 * What authentication and TLS add to a management request. One API (memory coordinator, a
 * configured 3-node cluster) served twice, over plain HTTP and over HTTPS, asked by a keep-alive
 * client in the same process, one request at a time:
 * - authentication alone: GET /healthz with a valid bearer token minus without one (the token is
 *   checked on every request that carries one, even on a public route);
 * - TLS: GET /v1/status over HTTPS minus over HTTP, both with the token;
 * - a client certificate instead of a token, over HTTPS.
 */
export interface ApiBench {
  readonly requests: number;
  readonly healthzPlainMs: Summary;
  readonly healthzTokenMs: Summary;
  readonly statusHttpTokenMs: Summary;
  readonly statusHttpsTokenMs: Summary;
  readonly statusHttpsCertMs: Summary;
  /** p50/p99 differences: token check, TLS, both together on /v1/status. */
  readonly addedMs: { readonly auth: { p50: number | null; p99: number | null }; readonly tls: { p50: number | null; p99: number | null } };
}

const CONFIG = `cluster: bench
coordinator: { kind: memory }
nodes:
  - { name: n1, apiPort: 7401 }
  - { name: n2, apiPort: 7402 }
  - { name: n3, apiPort: 7403 }
groups:
  - name: web
    resources:
      - { name: app, type: process, command: /bin/sleep, args: ["1000"], user: nobody }
`;

interface Variant {
  readonly f: typeof fetch;
  readonly url: string;
  readonly headers: Record<string, string>;
}

/**
 * The variants' requests interleaved (one of each in turn, `n` rounds) so that garbage collection,
 * JIT and the machine's other load fall on all of them alike; a summary per variant.
 */
async function interleaved(variants: readonly Variant[], n: number): Promise<Summary[]> {
  const once = async (v: Variant): Promise<number> => {
    const t = performance.now();
    const r = await v.f(v.url, { headers: v.headers });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${v.url}: ${r.status}`);
    return performance.now() - t;
  };
  for (let i = 0; i < Math.min(200, n); i++) for (const v of variants) await once(v);
  const out = variants.map((): number[] => []);
  for (let i = 0; i < n; i++) for (const [k, v] of variants.entries()) out[k]?.push(await once(v));
  return out.map((xs) => summarize(xs));
}

const diff = (a: Summary, b: Summary) => ({
  p50: a.p50 === null || b.p50 === null ? null : Math.round((a.p50 - b.p50) * 1000) / 1000,
  p99: a.p99 === null || b.p99 === null ? null : Math.round((a.p99 - b.p99) * 1000) / 1000,
});

export async function benchApi(requests: number, log: (s: string) => void): Promise<ApiBench> {
  const dir = await mkdtemp(join(tmpdir(), 'halo-bench-api-'));
  const coord = new MemoryCoordinator();
  const clock = new SystemClock();
  const n1 = parseNodeId('n1');
  try {
    const ca = await createCa(join(dir, 'certs'), 'bench');
    const server = await issueCert(ca, { name: 'n1', role: 'node', ips: ['127.0.0.1'] });
    const client = await issueCert(ca, { name: 'bench', role: 'viewer' });
    const pem = (f: string) => readFileSync(f, 'utf8');
    const tls = { ca: pem(ca.ca), cert: pem(server.cert), key: pem(server.key) };
    const plain = await buildApi({ coord, cluster: 'bench', self: n1, clock });
    const secure = await buildApi({ coord, cluster: 'bench', self: n1, clock, tls });
    const admin = await createToken(coord, 'bench', { name: 'bench', role: 'admin', tenants: null, groups: null, expiresAt: null, createdBy: 'bench' }, Date.now());
    await plain.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG }, headers: { authorization: `Bearer ${admin.token}` } });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    await secure.listen({ host: '127.0.0.1', port: 0 });
    const http = `http://127.0.0.1:${(plain.server.address() as AddressInfo).port}`;
    const https = `https://127.0.0.1:${(secure.server.address() as AddressInfo).port}`;
    try {
      const auth = { authorization: `Bearer ${admin.token}` };
      const keepAlive = clusterFetch({ ca: tls.ca });
      const withCert = clusterFetch({ ca: tls.ca, cert: pem(client.cert), key: pem(client.key) });
      log(`  ${requests} rounds of one request per variant, interleaved, keep-alive`);
      const [healthzPlainMs, healthzTokenMs, statusHttpTokenMs, statusHttpsTokenMs, statusHttpsCertMs] = (await interleaved(
        [
          { f: keepAlive, url: `${http}/healthz`, headers: {} },
          { f: keepAlive, url: `${http}/healthz`, headers: auth },
          { f: keepAlive, url: `${http}/v1/status`, headers: auth },
          { f: keepAlive, url: `${https}/v1/status`, headers: auth },
          { f: withCert, url: `${https}/v1/status`, headers: {} },
        ],
        requests,
      )) as [Summary, Summary, Summary, Summary, Summary];
      return {
        requests,
        healthzPlainMs,
        healthzTokenMs,
        statusHttpTokenMs,
        statusHttpsTokenMs,
        statusHttpsCertMs,
        addedMs: { auth: diff(healthzTokenMs, healthzPlainMs), tls: diff(statusHttpsTokenMs, statusHttpTokenMs) },
      };
    } finally {
      await plain.close();
      await secure.close();
    }
  } finally {
    await coord.close();
    await rm(dir, { recursive: true, force: true });
  }
}
