import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedCoordinator, startCoordinatorServer } from '../src/coord/embedded/index.js';
import { SecretVerifier } from '../src/coord/embedded/secret.js';
import { createCa, issueCert } from '../src/security/certs.js';

/**
 * `node dist/bench/coord-auth.js`: what the embedded coordinator's credential costs. Prints
 * (1) the constant-time secret check alone, in a tight loop; (2) the median and p99 round trip of a
 * read over loopback with the secret, plain HTTP and HTTPS with client certificates; (3) the
 * round trip of a refused (401) request. Figures only. HALO_BENCH_COORD_N sets the requests per series.
 */

const N = Number(process.env['HALO_BENCH_COORD_N'] ?? '2000');
const SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function series(what: string, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 200; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  process.stdout.write(`${what.padEnd(44)} median ${quantile(ms, 0.5).toFixed(3)} ms   p99 ${quantile(ms, 0.99).toFixed(3)} ms   (n=${N})\n`);
}

const v = new SecretVerifier(SECRET);
const header = `Bearer ${SECRET}`;
const loops = 200_000;
let ok = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < loops; i++) if (v.matches(header)) ok++;
const perCheckNs = Number(process.hrtime.bigint() - t0) / loops;
process.stdout.write(`secret check alone (sha256 + timingSafeEqual)     ${perCheckNs.toFixed(0)} ns per check (${ok === loops ? 'all matched' : 'MISMATCH'})\n`);

const dir = await mkdtemp(join(tmpdir(), 'halo-bench-coord-'));
try {
  const plain = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'plain'), secret: SECRET, authLimits: { maxFailures: 1e9 } });
  const coord = new EmbeddedCoordinator({ url: plain.url, secret: SECRET });
  await coord.put('/k', 'v');
  await series('get over HTTP with the secret', () => coord.get('/k'));
  await series('401 (wrong secret) over HTTP, raw fetch', () =>
    fetch(`${plain.url}/v1/kv/get`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' }, body: '{"key":"/k"}' }).then((r) => r.text()),
  );
  await series('200 with the secret over HTTP, raw fetch', () =>
    fetch(`${plain.url}/v1/kv/get`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: header }, body: '{"key":"/k"}' }).then((r) => r.text()),
  );
  await coord.close();
  await plain.close();

  const ca = await createCa(join(dir, 'certs'), 'bench');
  await issueCert(ca, { name: 'coordinator', role: 'node', ips: ['127.0.0.1'] });
  await issueCert(ca, { name: 'n1', role: 'node' });
  const pem = async (n: string) => ({ ca: await readFile(ca.ca, 'utf8'), cert: await readFile(join(ca.dir, `${n}.crt`), 'utf8'), key: await readFile(join(ca.dir, `${n}.key`), 'utf8') });
  const secure = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'tls'), secret: SECRET, tls: await pem('coordinator') });
  const tlsCoord = new EmbeddedCoordinator({ url: secure.url, secret: SECRET, tls: await pem('n1') });
  await tlsCoord.put('/k', 'v');
  await series('get over HTTPS (client cert) with the secret', () => tlsCoord.get('/k'));
  await tlsCoord.close();
  await secure.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
