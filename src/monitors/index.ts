import type { MonitorConfig } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';
import { CommandMonitor } from './command.js';
import { DiskMonitor } from './disk.js';
import { HttpMonitor } from './http.js';
import { TcpMonitor } from './tcp.js';
import type { Monitor } from './types.js';

export { CommandMonitor } from './command.js';
export { DiskMonitor } from './disk.js';
export { HttpMonitor } from './http.js';
export { TcpMonitor } from './tcp.js';
export { runCheck } from './check.js';
export type { CheckResult, Monitor } from './types.js';

/**
 * Builds the monitor for `cfg`. `vars` fills `${HALO_NODE_ADDRESS}` and `${HALO_NODE}` in
 * url/host/command/args/path. Checks never throw; thresholds are applied by the caller.
 */
export function makeMonitor(cfg: MonitorConfig, vars?: Record<string, string>): Monitor {
  switch (cfg.kind) {
    case 'tcp':
      return new TcpMonitor(cfg, vars);
    case 'http':
      return new HttpMonitor(cfg, vars);
    case 'command':
      return new CommandMonitor(cfg, vars);
    case 'disk':
      return new DiskMonitor(cfg, vars);
    default:
      return assertNever(cfg);
  }
}
