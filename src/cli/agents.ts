import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suggest } from '../config/load.js';
import { ClusterError } from '../domain/errors.js';
import { describeOcf, listAgents, OcfRunner, parseAgentName, type OcfAgentRef } from '../resources/ocf/runner.js';
import { parseMetadata, type OcfMetadata } from '../resources/ocf/metadata.js';
import { formatTable } from './format.js';

const METADATA_TIMEOUT_MS = 5_000;
const LIST_CONCURRENCY = 8;

export interface AgentSummary {
  readonly name: string;
  readonly path: string;
  /** The agent's one-line description, or why its meta-data could not be read. */
  readonly shortdesc: string;
  readonly metadataError: string | null;
}

export interface AgentDescription extends OcfMetadata {
  readonly agent: string;
  readonly path: string;
}

const fullName = (a: OcfAgentRef): string => `${a.provider}/${a.type}`;

/** Runs `meta-data` and parses it; a failure is a message, never a throw. */
async function metadataOf(a: OcfAgentRef, signal?: AbortSignal): Promise<{ ok: true; metadata: OcfMetadata } | { ok: false; error: string }> {
  const r = await new OcfRunner(a, '', {}).run('meta-data', { timeoutMs: METADATA_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  if (r.outcome.kind !== 'ok') return { ok: false, error: describeOcf(r) };
  return parseMetadata(r.stdout);
}

function noAgents(ocfRoot: string): ClusterError {
  const dir = join(ocfRoot, 'resource.d');
  return new ClusterError(
    'HA_NOT_FOUND',
    existsSync(dir)
      ? `no OCF resource agents under ${dir}`
      : `no OCF resource agents: ${dir} does not exist (Debian: apt-get install -y resource-agents; another location: --ocf-root DIR or OCF_ROOT)`,
  );
}

/** Every installed agent with its one-line description (meta-data read in parallel). */
export async function listInstalledAgents(ocfRoot: string, signal?: AbortSignal): Promise<AgentSummary[]> {
  const agents = listAgents(ocfRoot);
  if (agents.length === 0) throw noAgents(ocfRoot);
  const out: AgentSummary[] = new Array<AgentSummary>(agents.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < agents.length; i = next++) {
      const a = agents[i];
      if (a === undefined) continue;
      const m = await metadataOf(a, signal);
      out[i] = { name: fullName(a), path: new OcfRunner(a, '', {}).path, shortdesc: m.ok ? m.metadata.shortdesc : '', metadataError: m.ok ? null : m.error };
    }
  };
  await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, agents.length) }, worker));
  return out;
}

/**
 * Resolves NAME (`provider/type`, or a bare `type` installed under exactly one provider) to an
 * installed agent; HA_NOT_FOUND with the closest name otherwise, HA_BAD_REQUEST for a malformed one.
 */
export function resolveAgent(name: string, ocfRoot: string): OcfAgentRef {
  const installed = listAgents(ocfRoot);
  if (installed.length === 0) throw noAgents(ocfRoot);
  const names = installed.map(fullName);
  if (name.includes('/')) {
    const ref = parseAgentName(name, ocfRoot);
    if (ref === null) throw new ClusterError('HA_BAD_REQUEST', `"${name}" is not an agent name: expected provider/type, e.g. heartbeat/Dummy`);
    const found = installed.find((a) => fullName(a) === name);
    if (found) return found;
  } else {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') throw new ClusterError('HA_BAD_REQUEST', `"${name}" is not an agent name: expected provider/type, e.g. heartbeat/Dummy`);
    const found = installed.filter((a) => a.type === name);
    if (found.length === 1 && found[0]) return found[0];
    if (found.length > 1) throw new ClusterError('HA_BAD_REQUEST', `agent "${name}" is installed by several providers: ${found.map(fullName).join(', ')}; name one of them`);
  }
  const hint = suggest(name, name.includes('/') ? names : installed.map((a) => a.type));
  const hintFull = hint === undefined ? undefined : name.includes('/') ? hint : names[installed.findIndex((a) => a.type === hint)];
  throw new ClusterError(
    'HA_NOT_FOUND',
    `unknown OCF agent "${name}" under ${join(ocfRoot, 'resource.d')}${hintFull !== undefined ? `; did you mean ${hintFull}?` : ''} ("halo agents list" shows the ${installed.length} installed)`,
  );
}

/** An installed agent's meta-data; HA_INTERNAL with the agent's own words when it cannot be read. */
export async function describeAgent(name: string, ocfRoot: string, signal?: AbortSignal): Promise<AgentDescription> {
  const a = resolveAgent(name, ocfRoot);
  const m = await metadataOf(a, signal);
  if (!m.ok) throw new ClusterError('HA_INTERNAL', `${fullName(a)}: cannot read its meta-data: ${m.error}`);
  return { agent: fullName(a), path: new OcfRunner(a, '', {}).path, ...m.metadata };
}

export function renderAgentList(list: readonly AgentSummary[]): string {
  return formatTable(
    ['AGENT', 'DESCRIPTION'],
    list.map((a) => [a.name, a.metadataError === null ? a.shortdesc : `(meta-data unreadable: ${a.metadataError})`]),
  );
}

const secs = (ms: number | null): string => (ms === null ? '-' : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export function renderAgentDescription(d: AgentDescription): string {
  const lines: string[] = [`${d.agent}${d.version ? ` (version ${d.version})` : ''}: ${d.shortdesc}`, d.path, ''];
  if (d.longdesc !== '') lines.push(d.longdesc, '');
  if (d.parameters.length === 0) lines.push('Parameters: none');
  else {
    lines.push('Parameters (params: in halo.yaml, passed as OCF_RESKEY_<name>):');
    lines.push(formatTable(['NAME', 'REQUIRED', 'TYPE', 'DEFAULT', 'DESCRIPTION'], d.parameters.map((p) => [p.name, p.required ? 'yes' : 'no', p.type, p.default === null ? '-' : p.default === '' ? '""' : p.default, p.shortdesc])));
  }
  lines.push('', 'Actions:');
  lines.push(formatTable(['ACTION', 'TIMEOUT', 'INTERVAL', 'ROLE'], d.actions.map((a) => [a.name, secs(a.timeoutMs), secs(a.intervalMs), a.role ?? '-'])));
  const required = d.parameters.filter((p) => p.required);
  lines.push('', 'In halo.yaml:', '  - name: my-resource', '    type: ocf', `    agent: ${d.agent}`);
  if (required.length > 0) {
    lines.push('    params:');
    for (const p of required) lines.push(`      ${p.name}: ...`);
  }
  return lines.join('\n');
}
