import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ClusterError } from '../domain/errors.js';
import { parseConfigText, formatIssues } from '../config/index.js';
import { bootstrapToken } from '../cli/bootstrap.js';
import { defaultCredentialsPath, writeCredentials } from '../cli/credentials.js';
import type { TlsFiles } from '../domain/config.js';
import { caFilesIn, createCa, issueCert } from '../security/certs.js';
import { clusterFetch } from '../security/fetch.js';

/** Options of `halo demo`. */
export interface RunDemoOptions {
  /** Where the demo keeps its state; default .halo/demo */
  readonly dir?: string;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const HALO_BIN = join(ROOT, 'bin', 'halo.js');

/**
 * Node flags of a long-running `halo agent`: V8's young generation capped at 4 MB per semi-space
 * (Node's default lets it grow to 16 MB). Measured with 100 monitors at 1 s, RSS sampled every
 * second for 40 s (max / mean) and CPU over the same time: default 133-136 / 127-128 MB and
 * 8.9-9.9 % of a core; 4 MB 104-108 / 102-103 MB and 10.3-10.7 %; 2 MB 114 / 104 MB; 1 MB
 * 110 / 99 MB and 10.8 %. A deployment's service unit passes the same flags.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** The argv (after process.execPath) that runs `halo <args>`, with AGENT_NODE_FLAGS for `halo agent`. */
export function haloArgv(args: readonly string[]): string[] {
  return [...(args[0] === 'agent' ? AGENT_NODE_FLAGS : []), HALO_BIN, ...args];
}
export const DEMO_CONFIG = join(ROOT, 'examples', 'demo.yaml');
export const SAMPLE_SERVICE = join(ROOT, 'examples', 'sample-service.mjs');

/**
 * Writes the demo cluster's config into `dir` (absolute paths, so every process agrees) and
 * returns its path. Tests use this too, with overrides.
 */
export function writeDemoConfig(dir: string, edit?: (doc: ReturnType<typeof parseDocument>) => void, opts: { readonly tls?: TlsFiles } = {}): string {
  mkdirSync(dir, { recursive: true });
  const doc = parseDocument(readFileSync(DEMO_CONFIG, 'utf8'));
  if (opts.tls) doc.setIn(['security', 'tls'], { ...opts.tls });
  doc.setIn(['coordinator', 'dataDir'], join(dir, 'coordinator'));
  doc.setIn(['stateDir'], join(dir, 'state'));
  doc.setIn(['groups', 0, 'resources', 0, 'args'], [SAMPLE_SERVICE]);
  doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_RECORD_FILE'], join(dir, 'records.jsonl'));
  edit?.(doc);
  const file = join(dir, 'halo.yaml');
  const text = doc.toString();
  const parsed = parseConfigText(text, file);
  if (!parsed.ok) throw new ClusterError('HA_CONFIG_INVALID', `demo config is invalid:\n${formatIssues(parsed.issues)}`);
  writeFileSync(file, text);
  return file;
}

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
}

function start(name: string, args: string[], logFile: string): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, haloArgv(args), { stdio: ['ignore', fd, fd], detached: false });
  return { name, child };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ClusterError('HA_OPERATION_TIMEOUT', `${what} did not happen within ${timeoutMs / 1000} s`);
}

function exited(p: Proc, ms: number): Promise<boolean> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    p.child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

/**
 * The demo's cluster CA and node certificates (made once, kept in <dir>/certs): the agents' APIs
 * serve HTTPS and nodes authenticate each other with them. Returns the paths for security.tls.
 */
export async function ensureDemoCerts(dir: string, nodes: readonly { readonly name: string; readonly address: string }[]): Promise<TlsFiles> {
  const certDir = join(dir, 'certs');
  const ca = caFilesIn(certDir);
  const all = [...nodes, { name: 'coordinator', address: '127.0.0.1' }];
  if (!existsSync(ca.ca) || all.some((n) => !existsSync(join(certDir, `${n.name}.crt`)))) {
    rmSync(certDir, { recursive: true, force: true });
    const made = await createCa(certDir, 'demo');
    // The embedded coordinator is no node, but presents and checks certificates like one.
    for (const n of all) await issueCert(made, { name: n.name, role: 'node', ips: [...new Set([n.address, '127.0.0.1'])], dns: [n.name, 'localhost'] });
  }
  return { ca: ca.ca, cert: join(certDir, '${HALO_NODE}.crt'), key: join(certDir, '${HALO_NODE}.key') };
}

/** Starts the embedded coordinator, three agents and the sample service; Ctrl-C stops everything. */
export async function runDemo(opts: RunDemoOptions): Promise<void> {
  const dir = resolve(opts.dir ?? '.halo/demo');
  const nodes = [
    { name: 'n1', address: '127.0.0.11', api: 'https://127.0.0.11:7401' },
    { name: 'n2', address: '127.0.0.12', api: 'https://127.0.0.12:7402' },
    { name: 'n3', address: '127.0.0.13', api: 'https://127.0.0.13:7403' },
  ];
  const tls = await ensureDemoCerts(dir, nodes);
  const file = writeDemoConfig(dir, undefined, { tls });
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`halo demo: state and logs in ${dir}`);

  const procs: Proc[] = [];
  const coordinator = start('coordinator', ['coordinator', '--config', file], join(dir, 'coordinator.log'));
  procs.push(coordinator);
  // The agents start with the coordinator, not after it: each boots while the coordinator does,
  // and keeps trying to register until it answers.
  for (const n of nodes) procs.push(start(n.name, ['agent', '--config', file, '--node', n.name], join(dir, `${n.name}.log`)));

  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    say('\nstopping: agents stop the service, then the coordinator exits');
    const agents = procs.filter((p) => p !== coordinator);
    for (const p of agents) p.child.kill('SIGTERM');
    await Promise.all(agents.map(async (p) => (await exited(p, 15_000)) || p.child.kill('SIGKILL')));
    coordinator.child.kill('SIGTERM');
    if (!(await exited(coordinator, 5000))) coordinator.child.kill('SIGKILL');
    say('stopped; nothing left running');
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  const credFile = process.env['HALO_CREDENTIALS'] || defaultCredentialsPath(process.env) || join(dir, 'credentials.json');
  let admin: { token: string } | undefined;
  try {
    // The coordinator is up when it takes the cluster's first admin credential (made straight in it).
    await waitFor(
      async () => {
        admin = await bootstrapToken(file, { name: 'demo-admin', role: 'admin', tenants: null, groups: null, expiresAt: null }, Date.now());
        return true;
      },
      15_000,
      'coordinator start',
    );
    if (admin === undefined) throw new ClusterError('HA_INTERNAL', 'no admin token was made');
    say('  coordinator   https://127.0.0.1:7400');
    writeCredentials(credFile, { api: nodes.map((n) => n.api), token: admin.token, ca: tls.ca });
    const api = clusterFetch({ ca: readFileSync(tls.ca, 'utf8') });
    const authHeaders = { authorization: `Bearer ${admin.token}` };

    await waitFor(
      async () => {
        const r = await api(`${nodes[0]?.api}/v1/groups/web`, { headers: authHeaders });
        if (!r.ok) return false;
        const body: unknown = await r.json();
        return JSON.stringify(body).includes('"running"');
      },
      30_000,
      'the web group to start',
    );
  } catch (e) {
    await stopAll();
    throw e;
  }
  for (const n of nodes) say(`  agent ${n.name}      API ${n.api}   log ${join(dir, `${n.name}.log`)}`);
  say(`
The sample service "web" runs active on one node, with the others as standbys.
Each node serves it on its own address: n1 127.0.0.11:8080, n2 127.0.0.12:8080, n3 127.0.0.13:8080.
Clients can use port 8081 on any node instead: the endpoint there follows the active instance.

The agents' APIs and the console speak HTTPS with the demo's own CA (${tls.ca}).
An admin token was created and saved, with the API addresses and the CA, in ${credFile}
(mode 0600): the CLI finds it there by itself. To log in to the console (${nodes[0]?.api}/console/),
paste the token from that file; "npx halo token create --role viewer" makes a read-only one.

Try, in another terminal (the CLI finds the demo's nodes and credentials by itself):
  npx halo status                          who runs what, and which node is the controller
  curl -s http://127.0.0.11:8080/          the service answers with the node serving it
  curl -s http://127.0.0.13:8081/          the same, through n3's endpoint, wherever web runs
  kill -9 <pid of app from halo status>  kill the service: halo restarts it in place
  npx halo switchover web --to n2          planned move, with progress
  kill -9 <pid of the agent running web>   node loss: web comes up on another node
  npx halo events --follow                 what happened, live
  npx halo why web                         the controller's last decisions for web

Ctrl-C stops everything.`);
  await new Promise<void>(() => undefined);
}
