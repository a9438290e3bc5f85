import { connect } from 'node:net';
import type { MonitorConfig } from '../domain/config.js';
import { runCheck } from './check.js';
import type { CheckResult, Monitor } from './types.js';
import { substituteNodeVars } from '../domain/node-vars.js';

type TcpConfig = Extract<MonitorConfig, { kind: 'tcp' }>;

/** Passes when a TCP connection to host:port is established within timeoutMs; closes it at once. */
export class TcpMonitor implements Monitor {
  readonly config: TcpConfig;
  private readonly host: string;

  constructor(config: TcpConfig, vars?: Readonly<Record<string, string>>) {
    this.config = config;
    this.host = substituteNodeVars(config.host, vars);
  }

  check(signal?: AbortSignal): Promise<CheckResult> {
    const { port } = this.config;
    const host = this.host;
    return runCheck(this.config.timeoutMs, signal, (sig) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host, port, signal: sig });
        socket.once('connect', () => {
          socket.destroy();
          resolve(`connected to ${host}:${port}`);
        });
        socket.once('error', (e) => {
          socket.destroy();
          reject(e);
        });
      }),
    );
  }
}
