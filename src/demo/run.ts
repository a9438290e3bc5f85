import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ClusterError } from '../domain/errors.js';
import { parseConfigText, formatIssues } from '../config/index.js';

/** Options of `halo demo`. */
export interface RunDemoOptions {
  /** Where the demo keeps its state; default .halo/demo */
  readonly dir?: string;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const HALO_BIN = join(ROOT, 'bin', 'halo.js');
export const DEMO_CONFIG = join(ROOT, 'examples', 'demo.yaml');
export const SAMPLE_SERVICE = join(ROOT, 'examples', 'sample-service.mjs');

/**
 * Writes the demo cluster's config into `dir` (absolute paths, so every process agrees) and
 * returns its path. Tests use this too, with overrides.
 */
export function writeDemoConfig(dir: string, edit?: (doc: ReturnType<typeof parseDocument>) => void): string {
  mkdirSync(dir, { recursive: true });
  const doc = parseDocument(readFileSync(DEMO_CONFIG, 'utf8'));
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
  const child = spawn(process.execPath, [HALO_BIN, ...args], { stdio: ['ignore', fd, fd], detached: false });
  return { name, child };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
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

/** Starts the embedded coordinator, three agents and the sample service; Ctrl-C stops everything. */
export async function runDemo(opts: RunDemoOptions): Promise<void> {
  const dir = resolve(opts.dir ?? '.halo/demo');
  const file = writeDemoConfig(dir);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`halo demo: state and logs in ${dir}`);

  const procs: Proc[] = [];
  const coordinator = start('coordinator', ['coordinator', '--config', file], join(dir, 'coordinator.log'));
  procs.push(coordinator);
  // Any answer means it is up: without the secret it is a 401 (agents read the secret file themselves).
  await waitFor(async () => (await fetch('http://127.0.0.1:7400/')).status > 0, 15_000, 'coordinator start');
  say('  coordinator   http://127.0.0.1:7400');
  const nodes = [
    { name: 'n1', api: 'http://127.0.0.11:7401' },
    { name: 'n2', api: 'http://127.0.0.12:7402' },
    { name: 'n3', api: 'http://127.0.0.13:7403' },
  ];
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

  try {
    await waitFor(
      async () => {
        const r = await fetch(`${nodes[0]?.api}/v1/groups/web`);
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

Try, in another terminal (the CLI finds the demo's nodes by itself):
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
