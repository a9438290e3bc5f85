import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { AuditItem, TokenView } from '../api/schemas.js';
import { ClusterError } from '../domain/errors.js';
import { ROLES, type Role } from '../domain/security.js';
import { formatTable, formatTime } from './format.js';
import type { ApiClient } from './client.js';

/** What the security commands need from the program that hosts them. */
export interface SecurityCommandCtx {
  readonly out: (s: string) => void;
  readonly printJson: (v: unknown) => void;
  readonly output: () => 'table' | 'json';
  readonly client: () => ApiClient;
  readonly now: () => number;
  readonly signal?: AbortSignal;
}

const DURATION = /^(\d+)(m|h|d|w)$/;
const UNIT: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** --expires: 30m, 12h, 90d, 8w. */
export function parseExpiry(v: string): number {
  const m = DURATION.exec(v);
  const ms = m?.[1] !== undefined && m[2] !== undefined ? Number(m[1]) * (UNIT[m[2]] ?? 0) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 60_000 || ms > 10 * 365 * 86_400_000) {
    throw new ClusterError('HA_BAD_REQUEST', `--expires: expected a duration from 1m to 3650d such as 30m, 12h, 90d or 8w, got "${v}"`);
  }
  return ms;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function scope(t: Pick<TokenView, 'tenants' | 'groups'>): string {
  const parts = [...(t.tenants ? [`tenants=${t.tenants.join(',')}`] : []), ...(t.groups ? [`groups=${t.groups.join(',')}`] : [])];
  return parts.join(' ') || 'cluster';
}

export function renderTokens(tokens: readonly TokenView[], now: number): string {
  if (tokens.length === 0) return 'no tokens';
  return formatTable(
    ['ID', 'NAME', 'ROLE', 'SCOPE', 'CREATED', 'BY', 'EXPIRES'],
    tokens.map((t) => [t.id, t.name, t.role, scope(t), formatTime(t.createdAt), t.createdBy, t.expiresAt === null ? 'never' : t.expiresAt <= now ? 'expired' : formatTime(t.expiresAt)]),
  );
}

export function renderAudit(entries: readonly AuditItem[]): string {
  if (entries.length === 0) return 'no audit records';
  return formatTable(
    ['TIME', 'WHO', 'ROLE', 'SOURCE', 'NODE', 'REQUEST', 'TARGET', 'OUTCOME'],
    entries.map((e) => [formatTime(e.at), e.identity, e.role ?? '-', e.source, e.node, `${e.method} ${e.route}`, e.target ?? '-', `${e.outcome} ${e.status}${e.code ? ` ${e.code}` : ''}`]),
  );
}

/** `halo token create|list|revoke`, `halo audit` and `halo whoami`. */
export function addSecurityCommands(program: Command, ctx: SecurityCommandCtx): void {
  const so = ctx.signal ? { signal: ctx.signal } : {};
  const token = program.command('token').description('bearer tokens for the API, the CLI and the console (admin)');
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).makeOptionMandatory())
    .option('--name <name>', 'who or what it is for (shown in the audit log)')
    .option('--tenant <tenant>', 'scope it to a tenant (repeatable)', collect)
    .option('--group <group>', 'scope it to a group (repeatable)', collect)
    .option('--expires <duration>', 'lifetime, e.g. 12h, 90d (default: never)')
    .option('--config <file>', 'bootstrap: write straight to the cluster\'s coordinator named in this halo.yaml (no API, no token needed)')
    .option('--save <file>', 'also write the token (and --api URLs) to this credentials file, mode 0600')
    .action(async (o: { role: Role; name?: string; tenant?: string[]; group?: string[]; expires?: string; config?: string; save?: string }) => {
      const expiresInMs = o.expires === undefined ? undefined : parseExpiry(o.expires);
      const name = o.name ?? `${o.role}-token`;
      let created: { token: string; info: TokenView };
      if (o.config !== undefined) {
        const { bootstrapToken } = await import('./bootstrap.js');
        created = await bootstrapToken(o.config, { name, role: o.role, tenants: o.tenant ?? null, groups: o.group ?? null, expiresAt: expiresInMs === undefined ? null : ctx.now() + expiresInMs }, ctx.now(), so);
      } else {
        created = await ctx.client().createToken(
          { name, role: o.role, ...(o.tenant ? { tenants: o.tenant } : {}), ...(o.group ? { groups: o.group } : {}), ...(expiresInMs === undefined ? {} : { expiresInMs }) },
          so,
        );
      }
      if (o.save !== undefined) {
        const { writeCredentials } = await import('./credentials.js');
        writeCredentials(o.save, { token: created.token });
      }
      if (ctx.output() === 'json') ctx.printJson(created);
      else {
        ctx.out(created.token);
        ctx.out(`token ${created.info.id} (${created.info.name}, ${created.info.role}, ${scope(created.info)}) created; the secret above is shown only now${o.save ? `, and saved in ${o.save}` : ''}`);
      }
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const r = await ctx.client().tokens(so);
      if (ctx.output() === 'json') ctx.printJson(r);
      else ctx.out(renderTokens(r.tokens, ctx.now()));
    });
  token
    .command('revoke')
    .description('revoke a token; its console sessions end too')
    .argument('<id>', 'token id, from "halo token list"')
    .action(async (id: string) => {
      const r = await ctx.client().revokeToken(id, so);
      if (ctx.output() === 'json') ctx.printJson(r);
      else ctx.out(`token ${r.id} revoked`);
    });

  program
    .command('audit')
    .description('the audit log: every change and every refused request (admin)')
    .addOption(new Option('--limit <n>', 'newest N records').argParser((v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10_000) throw new ClusterError('HA_BAD_REQUEST', `--limit must be an integer from 1 to 10000, got "${v}"`);
      return Number(v);
    }))
    .action(async (o: { limit?: number }) => {
      const r = await ctx.client().audit(o.limit === undefined ? {} : { limit: o.limit }, so);
      if (ctx.output() === 'json') ctx.printJson(r);
      else ctx.out(renderAudit(r.entries));
    });

  const certs = program.command('certs').description('the cluster CA and certificates (TLS on every API, mirror link and the embedded coordinator)');
  certs
    .command('create')
    .description('create the cluster CA (once) and a certificate for every node of a halo.yaml, and the embedded coordinator')
    .requiredOption('--config <file>', 'halo.yaml: its cluster name, nodes and their addresses')
    .requiredOption('--dir <dir>', 'where to write ca.crt, ca.key and <name>.crt/.key (keys mode 0600)')
    .action(async (o: { config: string; dir: string }) => {
      const { loadConfigFile, formatIssues } = await import('../config/index.js');
      const { caFilesIn, createCa, issueCert } = await import('../security/certs.js');
      const { existsSync } = await import('node:fs');
      const { resolve } = await import('node:path');
      const r = await loadConfigFile(o.config, so);
      if (!r.ok) throw new ClusterError('HA_CONFIG_INVALID', `${o.config}: invalid configuration:\n${formatIssues(r.issues)}`);
      const dir = resolve(o.dir);
      const ca = existsSync(caFilesIn(dir).ca) ? caFilesIn(dir) : await createCa(dir, r.config.cluster, so);
      const made: string[] = [];
      const c = r.config.coordinator;
      const targets = [
        ...r.config.nodes.map((n) => ({ name: n.name, host: n.address })),
        ...(c.kind === 'embedded' ? [{ name: 'coordinator', host: c.address.slice(0, c.address.lastIndexOf(':')) }] : []),
      ];
      for (const t of targets) {
        const isIp = /^[\d.]+$|:/.test(t.host);
        await issueCert(ca, { name: t.name, role: 'node', ...(isIp ? { ips: [t.host] } : { dns: [t.host] }), ...so });
        made.push(t.name);
      }
      const snippet = { security: { tls: { ca: `${dir}/ca.crt`, cert: `${dir}/\${HALO_NODE}.crt`, key: `${dir}/\${HALO_NODE}.key` } } };
      if (ctx.output() === 'json') ctx.printJson({ dir, certificates: made, config: snippet });
      else {
        ctx.out(`CA ${ca.ca}; certificates for ${made.join(', ')} in ${dir}`);
        ctx.out('Copy ca.crt and each node\'s own .crt/.key to it (keep ca.key off the nodes), then add to halo.yaml:');
        ctx.out(`security:\n  tls:\n    ca: ${snippet.security.tls.ca}\n    cert: ${snippet.security.tls.cert}\n    key: ${snippet.security.tls.key}`);
      }
    });
  certs
    .command('issue')
    .description('issue one certificate from the CA in --dir: a person\'s or a tool\'s client certificate (viewer, operator, admin) or a node\'s')
    .requiredOption('--dir <dir>', 'the CA directory (from "halo certs create")')
    .requiredOption('--name <name>', 'CN: a node name or a user name')
    .addOption(new Option('--role <role>', 'OU: what the holder may do').choices(['node', ...ROLES]).makeOptionMandatory())
    .option('--ip <address>', 'an IP address the certificate is valid for (nodes; repeatable)', collect)
    .option('--dns <name>', 'a DNS name the certificate is valid for (nodes; repeatable)', collect)
    .action(async (o: { dir: string; name: string; role: 'node' | Role; ip?: string[]; dns?: string[] }) => {
      const { caFilesIn, issueCert } = await import('../security/certs.js');
      const { existsSync } = await import('node:fs');
      const ca = caFilesIn(o.dir);
      if (!existsSync(ca.ca) || !existsSync(ca.caKey)) throw new ClusterError('HA_BAD_REQUEST', `--dir: no CA in ${o.dir} (ca.crt and ca.key); run "halo certs create" first`);
      const files = await issueCert(ca, { name: o.name, role: o.role, ...(o.ip ? { ips: o.ip } : {}), ...(o.dns ? { dns: o.dns } : {}), ...so });
      if (ctx.output() === 'json') ctx.printJson(files);
      else ctx.out(`issued ${o.role} certificate for ${o.name}: ${files.cert} (key ${files.key}, mode 0600)`);
    });

  program
    .command('whoami')
    .description('who the API takes you for: name, role and scope')
    .action(async () => {
      const r = await ctx.client().whoami(so);
      if (ctx.output() === 'json') ctx.printJson(r);
      else ctx.out(`${r.identity.name} (${r.identity.kind}), role ${r.identity.role}, scope ${scope(r.identity)}`);
    });
}

/** Reads a PEM file named in credentials or the environment, with a precise error. */
export function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ClusterError('HA_BAD_REQUEST', `${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
