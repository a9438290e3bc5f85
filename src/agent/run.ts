import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { HaloConfig } from '../domain/config.js';
import { ClusterError } from '../domain/errors.js';
import { NodeIdSchema } from '../domain/ids.js';
import type { Coordinator } from '../coord/coordinator.js';
import { MemoryCoordinator } from '../coord/memory/index.js';
import { EmbeddedCoordinator } from '../coord/embedded/client.js';
import { embeddedClientOptions } from '../coord/embedded/config.js';
import { formatIssues, loadConfigFile } from '../config/index.js';
import { buildApi } from '../api/index.js';
import { loadTlsMaterial } from '../security/tls.js';
import { readPrivateFile } from '../security/secret-file.js';
import { makeMonitor } from '../monitors/index.js';
import { guardBinary, makeResourceAgent, writeFenceDeadline } from '../resources/index.js';
import { SystemClock } from '../platform/clock.js';
import { makeLogger } from '../observability/log.js';
import { createMetrics } from '../observability/metrics.js';
import { InstrumentedCoordinator } from '../observability/instrumented-coordinator.js';
import { Agent } from './agent.js';
import { MirrorService } from './mirrors.js';

/** Options of `halo agent`. */
export interface RunAgentOptions {
  readonly configFile: string;
  readonly node: string;
  /** Run with an in-process coordinator (one node only; nothing survives the process). */
  readonly standalone?: boolean;
}

/** Relative paths in a config file are relative to the file's directory. */
export function resolveConfigPath(configFile: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(resolve(configFile)), p);
}

/** `node` names the certificate presented to an embedded coordinator with `security.tls`. */
export async function makeCoordinatorClient(cfg: HaloConfig, configFile: string, standalone: boolean, node = 'coordinator'): Promise<Coordinator> {
  if (standalone) return new MemoryCoordinator();
  const c = cfg.coordinator;
  switch (c.kind) {
    case 'embedded':
      return new EmbeddedCoordinator(embeddedClientOptions(c, cfg.security, node, (p) => resolveConfigPath(configFile, p)));
    case 'etcd': {
      const tls = c.tls
        ? {
            ...(c.tls.ca ? { ca: resolveConfigPath(configFile, c.tls.ca) } : {}),
            ...(c.tls.cert ? { cert: resolveConfigPath(configFile, c.tls.cert) } : {}),
            ...(c.tls.key ? { key: resolveConfigPath(configFile, c.tls.key) } : {}),
          }
        : undefined;
      // Loaded only by nodes that use etcd: the client and its gRPC stack are the largest part of an agent's memory.
      const { EtcdCoordinator } = await import('../coord/etcd/index.js');
      return new EtcdCoordinator({
        endpoints: c.endpoints,
        prefix: c.prefix,
        dialTimeoutMs: c.dialTimeoutMs,
        requestTimeoutMs: c.requestTimeoutMs,
        ...(tls ? { tls } : {}),
        ...(c.auth ? { auth: { username: c.auth.username, password: await etcdPassword(c.auth, (p) => resolveConfigPath(configFile, p)) } } : {}),
      });
    }
    case 'memory':
      throw new ClusterError('HA_CONFIG_INVALID', 'coordinator.kind "memory" exists only inside one process: run `halo agent --standalone` or use kind "embedded"');
  }
}

/**
 * The etcd password of `coordinator.auth`: inline, or read from `passwordFile`, which must be
 * owner-only (like the embedded coordinator's secret file). One line; a trailing newline is ignored.
 */
export async function etcdPassword(
  auth: { readonly password?: string | undefined; readonly passwordFile?: string | undefined },
  resolvePath: (p: string) => string,
): Promise<string> {
  if (auth.passwordFile === undefined) {
    if (auth.password === undefined) throw new ClusterError('HA_CONFIG_INVALID', 'coordinator.auth: give password or passwordFile');
    return auth.password;
  }
  const file = resolvePath(auth.passwordFile);
  const text = await readPrivateFile(file, { what: 'etcd password file (coordinator.auth.passwordFile)', ownerOnly: true });
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || /[\r\n]/.test(password)) {
    throw new ClusterError('HA_CONFIG_INVALID', `etcd password file ${file} (coordinator.auth.passwordFile): expected the password on one line, got ${password === '' ? 'an empty file' : 'several lines'}`);
  }
  return password;
}

/** Runs one node's agent until SIGINT/SIGTERM (stops resources) or SIGUSR2 (leaves them running for an upgrade). */
export async function runAgent(opts: RunAgentOptions): Promise<void> {
  const loaded = await loadConfigFile(opts.configFile);
  if (!loaded.ok) throw new ClusterError('HA_CONFIG_INVALID', `invalid configuration:\n${formatIssues(loaded.issues)}`);
  const cfg = loaded.config;
  const nodeId = NodeIdSchema.safeParse(opts.node);
  const nodeCfg = cfg.nodes.find((n) => nodeId.success && n.name === nodeId.data);
  if (!nodeId.success || !nodeCfg) {
    throw new ClusterError('HA_BAD_REQUEST', `--node "${opts.node}" is not a node of ${opts.configFile}; expected one of: ${cfg.nodes.map((n) => n.name).join(', ')}`);
  }
  const node = nodeCfg.name;
  const stateDir = join(resolveConfigPath(opts.configFile, cfg.stateDir), node);
  mkdirSync(stateDir, { recursive: true });
  const fenceFile = join(stateDir, 'fence');
  const log = makeLogger({ name: `halo-agent-${node}` });
  const clock = new SystemClock();
  const metrics = createMetrics();
  const coord = new InstrumentedCoordinator(await makeCoordinatorClient(cfg, opts.configFile, opts.standalone ?? false, node), metrics);
  // What has been opened so far, closed again when starting fails: the process must exit with the
  // error, not linger on open etcd connections and health checks.
  const opened: (() => Promise<void>)[] = [() => coord.close()];
  let mirrors: MirrorService;
  let agent: Agent;
  let api: Awaited<ReturnType<typeof buildApi>>;
  let apiUrl: string;
  try {
    const tls = cfg.security.tls ? loadTlsMaterial(cfg.security.tls, node, (p) => resolveConfigPath(opts.configFile, p)) : undefined;
    apiUrl = `${tls ? 'https' : 'http'}://${nodeCfg.address}:${nodeCfg.apiPort}`;

    const service = new MirrorService({ config: cfg, node, coord, stateDir, log, vars: nodeVars(cfg, node), tls });
    mirrors = service;
    opened.unshift(() => service.close());
    await service.start();
    // Compiled while the agent registers rather than at the first start of a process resource
    // (which awaits this same compile if it is still running); a node without a C compiler can
    // still run resources of other kinds.
    void guardBinary(fenceFile).catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'process resources cannot start on this node'));
    agent = new Agent({
      coord,
      clock,
      node,
      config: cfg,
      configSource: loaded.source,
      apiUrl,
      stateDir,
      fenceFile,
      writeFence: (deadline) => writeFenceDeadline(fenceFile, Math.max(0, Math.floor(deadline))),
      makeResource: (r, n) => makeResourceAgent(r, nodeVars(cfg, n), { mirror: (m) => service.agentFor(m) }),
      makeMonitor: (m, n) => makeMonitor(m, nodeVars(cfg, n)),
      log,
      metrics,
    });

    // The coordinator may come up after us: keep trying, and say what we are waiting for.
    const started = Date.now();
    for (;;) {
      try {
        await agent.start();
        break;
      } catch (e) {
        if (!(e instanceof ClusterError) || e.code !== 'HA_COORD_UNAVAILABLE') throw e;
        if (Date.now() - started > 60_000) throw new ClusterError('HA_COORD_UNAVAILABLE', `${describeCoordinator(cfg)} did not answer for 60 s: ${e.message}`);
        log.warn({ coordinator: describeCoordinator(cfg), err: e.message }, 'waiting for the coordinator');
        await clock.sleep(500);
      }
    }

    const running = agent;
    api = await buildApi({
      coord,
      cluster: cfg.cluster,
      self: node,
      clock,
      metrics,
      endpoints: () => running.endpointStatus(),
      ...(tls ? { tls } : {}),
      metricsOpen: cfg.security.metrics === 'open',
      sessionTtlMs: cfg.security.sessionTtlMs,
    });
    const server = api;
    opened.unshift(() => server.close());
    if (!tls && !isLoopback(nodeCfg.address)) {
      log.warn({ node, address: nodeCfg.address }, 'the API is plain HTTP on a non-loopback address: tokens cross the network in clear text; configure security.tls (see "halo certs")');
    }
    await api.listen({ host: nodeCfg.address, port: nodeCfg.apiPort });
  } catch (e) {
    await closeAll(opened, STARTUP_CLEANUP_MS);
    throw e;
  }
  log.info({ node, api: apiUrl }, `halo agent ${node} running; API on ${apiUrl}`);

  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (keepResources: boolean) => {
      if (stopping) return;
      stopping = true;
      log.info({ node, keepResources }, keepResources ? 'exiting, leaving resources running for the next agent' : 'stopping resources and exiting');
      void (async () => {
        await agent.shutdown({ keepResources });
        await mirrors.close();
        await api.close();
        await coord.close();
        done();
      })();
    };
    process.once('SIGINT', () => stop(false));
    process.once('SIGTERM', () => stop(false));
    process.once('SIGUSR2', () => stop(true));
  });
}

/** How long closing what a failed start opened may take before the error is reported anyway. */
const STARTUP_CLEANUP_MS = 3000;

/** Runs every close, in order, each failure ignored, within `limitMs` in all. */
async function closeAll(closes: readonly (() => Promise<void>)[], limitMs: number): Promise<void> {
  const all = (async () => {
    for (const close of closes) await close().catch(() => undefined);
  })();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, limitMs);
    timer.unref();
  });
  await Promise.race([all, limit]);
  clearTimeout(timer);
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\./.test(address);
}

function nodeVars(cfg: HaloConfig, node: string): Record<string, string> {
  const n = cfg.nodes.find((x) => x.name === node);
  return { HALO_NODE: node, HALO_NODE_ADDRESS: n?.address ?? '127.0.0.1' };
}

function describeCoordinator(cfg: HaloConfig): string {
  const c = cfg.coordinator;
  switch (c.kind) {
    case 'embedded':
      return `embedded coordinator at ${cfg.security.tls === undefined ? 'http' : 'https'}://${c.address}`;
    case 'etcd':
      return `etcd at ${c.endpoints.join(', ')}`;
    case 'memory':
      return 'in-process coordinator';
  }
}
