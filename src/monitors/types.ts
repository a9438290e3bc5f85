import type { MonitorConfig } from '../domain/config.js';

export interface CheckResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly detail: string;
}

/** One health check run. Must finish within `config.timeoutMs` (a timeout is a failed check, not a throw). */
export interface Monitor {
  readonly config: MonitorConfig;
  check(signal?: AbortSignal): Promise<CheckResult>;
}
