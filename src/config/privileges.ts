import type { HaloConfig, MonitorConfig, ResourceConfig } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';
import { formatPath } from './load.js';

/**
 * Something valid but worth a second look. Warnings never make a file invalid: `halo config
 * validate` prints them and still exits 0.
 *
 * - `path` names the field as it reads in the YAML (`groups[0].resources[1].monitors[0]`).
 * - `message` says what and what to do about it.
 */
export interface ConfigWarning {
  readonly path: string;
  readonly message: string;
}

const FEWER = 'set user: to run it with fewer privileges';

/**
 * Every command halo would run as root, in config order: process resources and command monitors
 * (readiness and monitors of every resource) without `user:` or with user root/0, and every OCF
 * resource (OCF agents always run as the agent's user). Assumes the agent runs as root, as it does
 * on most hosts; a user name that maps to uid 0 other than `root` is not detected (this check reads
 * only the file, not the user database of the nodes).
 */
export function rootCommandWarnings(config: HaloConfig): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  config.groups.forEach((g, gi) => {
    g.resources.forEach((r, ri) => {
      const path: (string | number)[] = ['groups', gi, 'resources', ri];
      const own = resourceWarning(r);
      if (own !== null) out.push({ path: formatPath(path), message: own });
      if (r.readiness !== undefined) monitorWarning(r.readiness, [...path, 'readiness'], out);
      r.monitors.forEach((m, mi) => monitorWarning(m, [...path, 'monitors', mi], out));
    });
  });
  return out;
}

/** One line per warning: `warning: groups[0].resources[0]: command "node" runs as root; ...`. */
export function formatWarnings(warnings: readonly ConfigWarning[]): string {
  return warnings.map((w) => `warning: ${w.path}: ${w.message}`).join('\n');
}

function resourceWarning(r: ResourceConfig): string | null {
  switch (r.type) {
    case 'process':
      return runsAsRoot(r.user) ? `command ${JSON.stringify(r.command)} runs as root; ${FEWER}` : null;
    case 'ocf':
      return `OCF agent ${JSON.stringify(r.agent)} runs as root (OCF resources have no user: field); check that you trust it`;
    case 'vip':
    case 'mirror':
      // halo's own code, no operator command.
      return null;
    default:
      return assertNever(r);
  }
}

function monitorWarning(m: MonitorConfig, path: readonly (string | number)[], out: ConfigWarning[]): void {
  if (m.kind === 'command' && runsAsRoot(m.user)) out.push({ path: formatPath(path), message: `command ${JSON.stringify(m.command)} runs as root; ${FEWER}` });
}

function runsAsRoot(user: string | undefined): boolean {
  return user === undefined || user === 'root' || /^0+$/.test(user);
}
