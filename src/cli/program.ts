import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { GroupView, MoveAccepted } from '../api/schemas.js';
import { ClusterError, isClusterError } from '../domain/errors.js';
import { SystemClock, type Clock } from '../platform/clock.js';
import { ApiClient } from './client.js';
import { defaultCredentialsPath, readCredentials } from './credentials.js';
import { addSecurityCommands, readPem } from './security-commands.js';
import { clusterFetch } from '../security/fetch.js';
import { formatDuration } from './format.js';
import { renderEventLine, renderEvents, renderGroup, renderJournal, renderMirrors, renderReport, renderReportCsv, renderStatus } from './views.js';

/** Where the CLI writes and what it reads from its environment; injected so it can run in-process. */
export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
  /** Aborted on Ctrl-C; long-running commands (events --follow, waits) stop cleanly. */
  readonly signal?: AbortSignal;
}

/** The demo cluster's nodes (examples/demo.yaml); other clusters pass --api or set HALO_API. */
export const DEFAULT_API_URLS = 'http://127.0.0.11:7401,http://127.0.0.12:7402,http://127.0.0.13:7403';
const POLL_MS = 200;

type Output = 'table' | 'json';
/** -o csv exists for the commands that print rows of records (report). */
type OutputOption = Output | 'csv';

/** Thrown to end the program with an exit code after the reason was already printed. */
class Exit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

function version(): string {
  try {
    const raw: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    if (raw !== null && typeof raw === 'object' && 'version' in raw && typeof raw.version === 'string') return raw.version;
  } catch {
    // fall through
  }
  return 'unknown';
}

function positiveInt(name: string, min = 1) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`);
    }
    return Number(v);
  };
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || port < 1 || port > 65535) throw new InvalidArgumentError(`expected host:port, got "${v}"`);
  return { host: m[1], port };
}

/** Builds the `halo` program. Actions write through `io`; failures are thrown and mapped by `runCli`. */
export function buildProgram(io: CliIo): Command {
  const out = (s: string) => io.stdout(s.endsWith('\n') ? s : `${s}\n`);
  const program = new Command();
  program
    .name('halo')
    .description('halo: application-level high availability. Talks to any node\'s API (--api, or HALO_API).')
    .version(version(), '-V, --version')
    .addOption(new Option('--api <urls>', `comma-separated API base URLs, tried in order (default: $HALO_API, else ${DEFAULT_API_URLS})`))
    .addOption(new Option('-o, --output <format>', 'output format (csv: report only)').choices(['table', 'json', 'csv']).default('table'))
    .addOption(new Option('--request-timeout <ms>', 'per-request timeout for each URL').argParser(positiveInt('--request-timeout', 1)).default(5000))
    .addOption(new Option('--credentials <file>', 'credentials file: API URLs, token, cluster CA (default: $HALO_CREDENTIALS, else ~/.config/halo/credentials.json, which "halo demo" writes); $HALO_TOKEN overrides its token'))
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // Errors are printed once, by runCli, with their code.
      outputError: () => undefined,
    });

  /** -o csv is refused by every command but those that print records. */
  const plainOutput = (o: OutputOption): Output => {
    if (o === 'csv') throw new ClusterError('HA_BAD_REQUEST', '-o csv is supported only by "halo report"; use -o table or -o json');
    return o;
  };
  const connect = (): ApiClient => {
    const o = program.opts<{ api?: string; requestTimeout: number; credentials?: string }>();
    const named = o.credentials ?? (io.env['HALO_CREDENTIALS'] || undefined);
    const credFile = named ?? defaultCredentialsPath(io.env);
    const creds = credFile === undefined ? undefined : readCredentials(credFile, named !== undefined);
    const urls = (o.api ?? (io.env['HALO_API'] || undefined) ?? creds?.api?.join(',') ?? DEFAULT_API_URLS)
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u.length > 0);
    for (const u of urls) {
      if (!/^https?:\/\/[^\s/]+/.test(u)) throw new ClusterError('HA_BAD_REQUEST', `--api: "${u}" is not an http:// or https:// URL`);
    }
    if (urls.length === 0) throw new ClusterError('HA_BAD_REQUEST', '--api: no URL given');
    const token = io.env['HALO_TOKEN'] || creds?.token;
    const caFile = io.env['HALO_CA'] || creds?.ca;
    const ca = caFile === undefined ? undefined : readPem(caFile, io.env['HALO_CA'] ? 'HALO_CA' : `${credFile ?? ''}: ca`);
    const cert = creds?.cert !== undefined && creds.key !== undefined ? { cert: readPem(creds.cert, 'credentials cert'), key: readPem(creds.key, 'credentials key') } : {};
    if (urls.some((u) => u.startsWith('https:')) && ca === undefined) {
      throw new ClusterError('HA_BAD_REQUEST', 'https:// API URLs need the cluster CA to verify the agents: set HALO_CA to its PEM file or put "ca" in the credentials file');
    }
    return new ApiClient({
      urls,
      timeoutMs: o.requestTimeout,
      ...(token ? { token } : {}),
      ...(ca === undefined ? {} : { fetch: clusterFetch({ ca, ...cert }) }),
    });
  };
  const outputOption = (): OutputOption => program.opts<{ output: OutputOption }>().output;
  const outputFormat = (): Output => plainOutput(outputOption());
  const globals = (): { client: ApiClient; output: Output } => {
    const output = outputFormat();
    return { client: connect(), output };
  };
  const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));
  const signalOpt = io.signal ? { signal: io.signal } : {};

  // ------------------------------------------------------------------ status

  program
    .command('status')
    .description('show nodes, groups and where each group runs')
    .argument('[group]', 'show one group in detail')
    .action(async (group: string | undefined) => {
      const { client, output } = globals();
      if (group !== undefined) {
        const g = await client.group(group, signalOpt);
        if (output === 'json') printJson(g);
        else out(renderGroup(g, io.clock.wallNow()));
        return;
      }
      const s = await client.status(signalOpt);
      if (output === 'json') printJson(s);
      else out(renderStatus(s, io.clock.wallNow()));
    });

  // ------------------------------------------------------------------ moves

  const addWaitOptions = (c: Command) =>
    c
      .option('--no-wait', 'return once the request is accepted')
      .addOption(new Option('--timeout <ms>', 'how long to wait for the move to finish').argParser(positiveInt('--timeout')).default(60_000));

  addWaitOptions(
    program
      .command('switchover')
      .description('planned move of a group\'s active instance (to --to, or the best standby)')
      .argument('<group>')
      .option('--to <node>', 'target node'),
  ).action(async (group: string, opts: { to?: string; wait: boolean; timeout: number }) => {
    const { client, output } = globals();
    const before = await client.group(group, signalOpt);
    const accepted = await client.switchover(group, opts.to, signalOpt);
    await afterMove(client, output, accepted, before, opts);
  });

  addWaitOptions(
    program.command('failover').description('forced move of a group\'s active instance to the best eligible node').argument('<group>'),
  ).action(async (group: string, opts: { wait: boolean; timeout: number }) => {
    const { client, output } = globals();
    const before = await client.group(group, signalOpt);
    const accepted = await client.failover(group, signalOpt);
    await afterMove(client, output, accepted, before, opts);
  });

  async function afterMove(client: ApiClient, output: Output, m: MoveAccepted, before: GroupView, opts: { wait: boolean; timeout: number }): Promise<void> {
    if (!opts.wait) {
      if (output === 'json') printJson(m);
      else out(`requested ${m.kind} of ${m.group} from ${m.from} to ${m.to ?? 'the best eligible node'} (id ${m.id})`);
      return;
    }
    const result = await waitForMove(client, m, before, opts.timeout, output === 'table' ? out : () => undefined);
    if (output === 'json') printJson({ ...m, ...result });
  }

  /**
   * Polls the group until its active instance is another node, running, at a higher epoch.
   * Prints a line whenever the old or the new node changes state.
   */
  async function waitForMove(
    client: ApiClient,
    m: MoveAccepted,
    before: GroupView,
    timeoutMs: number,
    say: (s: string) => void,
  ): Promise<{ active: string; epoch: number; elapsedMs: number }> {
    const start = io.clock.now();
    const startEpoch = Math.max(m.epoch, before.assignment?.epoch ?? 0);
    say(`requested: ${m.kind} of ${m.group} from ${m.from} to ${m.to ?? 'the best eligible node'}…`);
    // Print a line whenever the old or the new node changes state, compared with before the request.
    const seen = new Map<string, string>(before.nodes.map((n) => [n.node, n.state]));
    let last = 'no answer yet';
    for (;;) {
      let g: GroupView | undefined;
      try {
        g = await client.group(m.group, signalOpt);
      } catch (e) {
        // A node going away mid-move is expected; the client already tried the others.
        if (!isClusterError(e) || !e.retryable) throw e;
        last = `${e.code}: ${e.message}`;
      }
      if (g) {
        const a = g.assignment;
        const target = a?.transition?.to ?? (a?.active !== m.from ? a?.active : null) ?? m.to;
        const activeNode = a?.active ? g.nodes.find((n) => n.node === a.active) : undefined;
        const done = a !== null && a.active !== null && a.active !== m.from && a.epoch > startEpoch && activeNode?.state === 'running';
        for (const n of g.nodes) {
          if (n.node !== m.from && n.node !== target) continue;
          // The new active's "running" is said by the final line.
          if (seen.get(n.node) !== n.state && !(done && n.node === activeNode?.node)) say(`${n.node} ${n.state}…`);
          seen.set(n.node, n.state);
        }
        last = a ? `active ${a.active ?? 'none'}, epoch ${a.epoch}${a.transition ? `, ${a.transition.kind} in progress` : ''}${activeNode ? ` (${activeNode.node} ${activeNode.state})` : ''}` : 'not placed';
        if (done && a && a.active !== null) {
          const elapsedMs = io.clock.now() - start;
          say(`done: ${m.group} active on ${a.active} (epoch ${a.epoch}) in ${formatDuration(elapsedMs)}`);
          return { active: a.active, epoch: a.epoch, elapsedMs };
        }
      }
      const elapsed = io.clock.now() - start;
      if (elapsed >= timeoutMs) {
        throw new ClusterError(
          'HA_OPERATION_TIMEOUT',
          `${m.kind} of ${m.group} did not finish within ${formatDuration(timeoutMs)} (last seen: ${last}); it may still finish: check "halo status ${m.group}" and "halo why ${m.group}"`,
        );
      }
      await io.clock.sleep(Math.min(POLL_MS, timeoutMs - elapsed), io.signal);
    }
  }

  // ------------------------------------------------------------------ intents

  program
    .command('maintenance')
    .description('maintenance on or off for the whole cluster, one group (--group) or one node (--node)')
    .addArgument(program.createArgument('<state>', 'on or off').choices(['on', 'off']))
    .option('--group <group>', 'only this group')
    .option('--node <node>', 'only this node')
    .action(async (state: 'on' | 'off', opts: { group?: string; node?: string }) => {
      const { client, output } = globals();
      if (opts.group !== undefined && opts.node !== undefined) throw new ClusterError('HA_BAD_REQUEST', 'give either --group or --node, not both');
      const r = await client.maintenance(
        { on: state === 'on', ...(opts.group === undefined ? {} : { group: opts.group }), ...(opts.node === undefined ? {} : { node: opts.node }) },
        signalOpt,
      );
      if (output === 'json') printJson(r);
      else out(`maintenance ${r.on ? 'on' : 'off'} for ${r.scope === 'cluster' ? 'the cluster' : `${r.scope} ${r.target ?? ''}`}`);
    });

  const node = program.command('node').description('node standby (drain) and back online');
  node
    .command('standby')
    .description('move every group away from the node and keep them away')
    .argument('<node>')
    .action(async (name: string) => {
      const { client, output } = globals();
      const r = await client.nodeStandby(name, signalOpt);
      if (output === 'json') printJson(r);
      else out(`node ${r.node} is in standby; its groups move to other nodes`);
    });
  node
    .command('online')
    .description('let the node run groups again')
    .argument('<node>')
    .action(async (name: string) => {
      const { client, output } = globals();
      const r = await client.nodeOnline(name, signalOpt);
      if (output === 'json') printJson(r);
      else out(`node ${r.node} is online; it may run groups again`);
    });

  program
    .command('cleanup')
    .description('clear failure records of a group so its nodes become eligible again')
    .argument('<group>')
    .option('--node <node>', 'only this node\'s record')
    .action(async (group: string, opts: { node?: string }) => {
      const { client, output } = globals();
      const r = await client.cleanup(group, opts.node, signalOpt);
      if (output === 'json') printJson(r);
      else out(r.removed.length ? `cleared failures of ${r.group} on ${r.removed.join(', ')}` : `no failure records for ${r.group}${opts.node ? ` on ${opts.node}` : ''}`);
    });

  // ------------------------------------------------------------------ history

  program
    .command('events')
    .description('the cluster event log (oldest first)')
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .addOption(new Option('--limit <n>', 'newest N events').argParser(positiveInt('--limit')).default(50))
    .action(async (opts: { follow?: boolean; limit: number }) => {
      const { client, output } = globals();
      if (!opts.follow) {
        const r = await client.events({ limit: opts.limit }, signalOpt);
        if (output === 'json') printJson(r.events);
        else out(renderEvents(r.events));
        return;
      }
      let after: number | undefined;
      let limit: number | undefined = opts.limit;
      // Reconnect (to whichever node answers) after the stream ends, resuming after the last event seen.
      while (!io.signal?.aborted) {
        for await (const e of client.streamEvents({ ...(limit === undefined ? {} : { limit }), ...(after === undefined ? {} : { after }) }, signalOpt)) {
          after = e.revision;
          out(output === 'json' ? JSON.stringify(e) : renderEventLine(e));
        }
        limit = undefined;
        if (io.signal?.aborted) break;
        await io.clock.sleep(500, io.signal).catch(() => undefined);
      }
    });

  program
    .command('mirror')
    .description('replicated directories (mirror resources)')
    .command('status')
    .description('state, lag, diff %, pending bytes and resync progress of every mirror, as its active last published them')
    .action(async () => {
      const { client, output } = globals();
      const r = await client.mirrors(signalOpt);
      if (output === 'json') printJson(r);
      else out(renderMirrors(r, io.clock.wallNow()));
    });

  program
    .command('why')
    .description('the controller\'s recent decisions for a group, newest last')
    .argument('<group>')
    .addOption(new Option('--limit <n>', 'newest N decisions').argParser(positiveInt('--limit')).default(20))
    .action(async (group: string, opts: { limit: number }) => {
      const { client, output } = globals();
      const r = await client.why(group, opts.limit, signalOpt);
      if (output === 'json') printJson(r);
      else out(renderJournal(r.group, r.entries));
    });

  program
    .command('report')
    .description('availability per group: uptime, nines, MTBF/MTTR and each incident (from the event log)')
    .option('--since <time>', 'window start: a duration before now (24h, 30m, 7d), an ISO 8601 time or epoch ms', '24h')
    .option('--until <time>', 'window end (default now), same forms as --since')
    .option('--group <group>', 'only this group')
    .action(async (opts: { since: string; until?: string; group?: string }) => {
      const output = outputOption();
      const r = await connect().report(
        { since: opts.since, ...(opts.until === undefined ? {} : { until: opts.until }), ...(opts.group === undefined ? {} : { group: opts.group }) },
        signalOpt,
      );
      if (output === 'json') printJson(r);
      else if (output === 'csv') out(renderReportCsv(r));
      else out(renderReport(r));
    });

  // ------------------------------------------------------------------ configuration

  const config = program.command('config').description('validate, explain, apply and show the configuration');
  config
    .command('validate')
    .description('check a configuration file locally (no cluster needed)')
    .argument('<file>')
    .action(async (file: string) => {
      const { loadConfigFile, formatIssues, rootCommandWarnings, formatWarnings } = await import('../config/index.js');
      const r = await loadConfigFile(file, signalOpt);
      // Warnings (commands that would run as root) leave the file valid: printed, exit 0.
      const warnings = r.ok ? rootCommandWarnings(r.config) : [];
      if (outputFormat() === 'json') printJson(r.ok ? { ok: true, issues: [], warnings } : { ok: false, issues: r.issues, warnings });
      if (!r.ok) {
        if (outputFormat() === 'table') io.stderr(`${formatIssues(r.issues)}\n`);
        throw new Exit(1);
      }
      if (outputFormat() === 'table' && warnings.length > 0) io.stderr(`${formatWarnings(warnings)}\n`);
      if (outputFormat() === 'table') out(`${file}: valid (cluster ${r.config.cluster}: ${r.config.nodes.length} nodes, ${r.config.groups.length} groups)`);
    });
  config
    .command('schema')
    .description('print the JSON Schema of halo.yaml')
    .action(async () => {
      const { configJsonSchema } = await import('../config/index.js');
      printJson(configJsonSchema());
    });
  config
    .command('explain')
    .description('explain what the timing settings of a file mean (detection and failover times)')
    .argument('<file>')
    .action(async (file: string) => {
      const { loadConfigFile, formatIssues, explainTiming } = await import('../config/index.js');
      const r = await loadConfigFile(file, signalOpt);
      if (!r.ok) {
        io.stderr(`${formatIssues(r.issues)}\n`);
        throw new Exit(1);
      }
      const lines = explainTiming(r.config);
      if (outputFormat() === 'json') printJson(lines);
      else out(lines.join('\n'));
    });
  config
    .command('apply')
    .description('validate a configuration file and apply it to the cluster as a whole')
    .argument('<file>')
    .action(async (file: string) => {
      const { client, output } = globals();
      let source: string;
      try {
        source = await readFile(file, 'utf8');
      } catch (e) {
        throw new ClusterError('HA_BAD_REQUEST', `${file}: cannot read: ${e instanceof Error && 'code' in e ? String(e.code) : String(e)}`);
      }
      const r = await client.applyConfig(source, file, signalOpt);
      if (output === 'json') printJson(r);
      else out(`applied ${file} as configuration version ${r.version} of cluster ${r.cluster}`);
    });
  config
    .command('get')
    .description('print the applied configuration')
    .action(async () => {
      const { client, output } = globals();
      const r = await client.getConfig(signalOpt);
      if (output === 'json') printJson(r);
      else out(`# configuration version ${r.version}, applied ${new Date(r.appliedAt).toISOString()}\n${r.source}`);
    });

  // ------------------------------------------------------------------ OCF resource agents

  const agents = program.command('agents').description('OCF resource agents installed on this machine (for resources of type ocf)');
  const ocfRootOption = () => new Option('--ocf-root <dir>', 'OCF_ROOT to scan (default: $OCF_ROOT, else /usr/lib/ocf)');
  const ocfRoot = (o: { ocfRoot?: string }): string => o.ocfRoot ?? io.env['OCF_ROOT'] ?? '/usr/lib/ocf';
  agents
    .command('list')
    .description('list the installed agents (<ocf-root>/resource.d/<provider>/<type>) with their descriptions')
    .addOption(ocfRootOption())
    .action(async (opts: { ocfRoot?: string }) => {
      const { listInstalledAgents, renderAgentList } = await import('./agents.js');
      const list = await listInstalledAgents(ocfRoot(opts), io.signal);
      if (outputFormat() === 'json') printJson(list);
      else out(renderAgentList(list));
    });
  agents
    .command('describe')
    .description('show an agent\'s parameters and actions from its meta-data')
    .argument('<name>', 'provider/type, e.g. heartbeat/Dummy (or just Dummy when only one provider has it)')
    .addOption(ocfRootOption())
    .action(async (name: string, opts: { ocfRoot?: string }) => {
      const { describeAgent, renderAgentDescription } = await import('./agents.js');
      const d = await describeAgent(name, ocfRoot(opts), io.signal);
      if (outputFormat() === 'json') printJson(d);
      else out(renderAgentDescription(d));
    });

  // ------------------------------------------------------------------ daemons

  program
    .command('agent')
    .description('run this node\'s agent (until SIGINT/SIGTERM)')
    .requiredOption('--config <file>', 'halo.yaml')
    .requiredOption('--node <name>', 'this node\'s name in the configuration')
    .option('--standalone', 'run with an in-process coordinator (one-node trial)')
    .action(async (opts: { config: string; node: string; standalone?: boolean }) => {
      const { runAgent } = await import('../agent/run.js');
      await runAgent({ configFile: opts.config, node: opts.node, ...(opts.standalone ? { standalone: true } : {}) });
    });

  program
    .command('coordinator')
    .description('run the embedded coordinator (until SIGINT/SIGTERM)')
    .option('--config <file>', 'take address and data directory from this halo.yaml')
    .addOption(new Option('--listen <host:port>', 'address to listen on').argParser(parseListen))
    .option('--data-dir <dir>', 'where to persist the state')
    .option('--secret-file <file>', 'the shared secret callers must present (default: coordinator.secret next to the data directory)')
    .action(async (opts: { config?: string; listen?: { host: string; port: number }; dataDir?: string; secretFile?: string }) => {
      const { runCoordinator, embeddedFiles, coordinatorTls, defaultSecretFile } = await import('../coord/index.js');
      let listen = opts.listen;
      let dataDir = opts.dataDir;
      let secretFile = opts.secretFile;
      let tls: ReturnType<typeof coordinatorTls>;
      if (opts.config !== undefined) {
        const { loadConfigFile, formatIssues } = await import('../config/index.js');
        const r = await loadConfigFile(opts.config, signalOpt);
        if (!r.ok) {
          io.stderr(`${formatIssues(r.issues)}\n`);
          throw new Exit(1);
        }
        const c = r.config.coordinator;
        if (c.kind !== 'embedded') {
          throw new ClusterError('HA_BAD_REQUEST', `${opts.config}: coordinator.kind is "${c.kind}"; "halo coordinator" serves only kind "embedded"`);
        }
        listen ??= parseListen(c.address);
        // Paths in the file are relative to the file, as for the agents that read the same secret.
        const { resolveConfigPath } = await import('../agent/run.js');
        const cfgFile = opts.config;
        const files = embeddedFiles(c, (p) => resolveConfigPath(cfgFile, p));
        dataDir ??= files.dataDir;
        secretFile ??= files.secretFile;
        tls = coordinatorTls(r.config.security, (p) => resolveConfigPath(cfgFile, p));
      }
      if (listen === undefined || dataDir === undefined) {
        throw new CommanderError(2, 'halo.usage', 'coordinator: give --config <file>, or both --listen <host:port> and --data-dir <dir>');
      }
      secretFile ??= defaultSecretFile(dataDir);
      await runCoordinator({ host: listen.host, port: listen.port, dataDir, secretFile, ...(tls === undefined ? {} : { tls }) });
    });

  addSecurityCommands(program, {
    out,
    printJson,
    output: outputFormat,
    client: connect,
    now: () => io.clock.wallNow(),
    ...(io.signal ? { signal: io.signal } : {}),
  });

  program
    .command('demo')
    .description('start a coordinator, three agents and a sample service on this machine')
    .option('--dir <dir>', 'where the demo keeps its state (default .halo/demo)')
    .action(async (opts: { dir?: string }) => {
      const { runDemo } = await import('../demo/run.js');
      await runDemo(opts.dir === undefined ? {} : { dir: opts.dir });
    });

  return program;
}

/**
 * Runs the CLI with user arguments (without node and script path) and returns the exit code:
 * 0 success, 1 failure (the reason on stderr with its code), 2 usage error. Never prints a stack
 * trace unless HALO_DEBUG is set.
 */
export async function runCli(args: readonly string[], partial: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    stdout: partial.stdout ?? ((s) => void process.stdout.write(s)),
    stderr: partial.stderr ?? ((s) => void process.stderr.write(s)),
    env: partial.env ?? process.env,
    clock: partial.clock ?? new SystemClock(),
    ...(partial.signal ? { signal: partial.signal } : {}),
  };
  const program = buildProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof Exit) return e.exitCode;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return e.exitCode === 0 ? 0 : 2;
      io.stderr(`halo: HA_BAD_REQUEST: ${e.message.replace(/^error: /, '').trim()} (see "halo --help")\n`);
      return 2;
    }
    if (io.signal?.aborted && !isClusterError(e)) return 130;
    if (isClusterError(e)) {
      io.stderr(`halo: ${e.code}: ${e.message}\n`);
      for (const d of e.details) io.stderr(`  ${d}\n`);
      if (io.env['HALO_DEBUG'] && e.stack) io.stderr(`${e.stack}\n`);
      return 1;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(`halo: HA_INTERNAL: ${msg}\n`);
    if (io.env['HALO_DEBUG'] && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    return 1;
  }
}
