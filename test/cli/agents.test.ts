import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import { SystemClock } from '../../src/platform/clock.js';

/** `halo agents list|describe` against an OCF root of test agents, and against Debian's when installed. */

async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env, clock: new SystemClock() });
  return { code, stdout, stderr };
}

const META = (name: string, desc: string): string =>
  `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="${name}" version="1.0">
<version>1.0</version>
<longdesc lang="en">Long words
about ${name}.</longdesc>
<shortdesc lang="en">${desc}</shortdesc>
<parameters>
<parameter name="ip" required="1" unique="1">
<longdesc lang="en">The address.</longdesc>
<shortdesc lang="en">IPv4 address</shortdesc>
<content type="string" />
</parameter>
<parameter name="port" required="0">
<shortdesc lang="en">Port</shortdesc>
<content type="integer" default="80"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s" />
<action name="monitor" timeout="10s" interval="5s" />
</actions>
</resource-agent>`;

function agent(root: string, provider: string, type: string, body: string): void {
  mkdirSync(join(root, 'resource.d', provider), { recursive: true });
  const p = join(root, 'resource.d', provider, type);
  writeFileSync(p, body);
  chmodSync(p, 0o755);
}

describe('halo agents', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'halo-agents-'));
    const metaAgent = (name: string, desc: string) => `#!/bin/sh\n[ "$1" = meta-data ] || exit 3\ncat <<'XML'\n${META(name, desc)}\nXML\n`;
    agent(root, 'acme', 'Web', metaAgent('Web', 'Runs the web tier'));
    agent(root, 'acme', 'Both', metaAgent('Both', 'First of two'));
    agent(root, 'other', 'Both', metaAgent('Both', 'Second of two'));
    agent(root, 'other', 'Broken', '#!/bin/sh\necho "<resource-agent><parameters>"\n');
    agent(root, 'other', 'Fails', '#!/bin/sh\necho "cannot work here" >&2\nexit 5\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('list: every executable agent under resource.d, with its description or why it has none', async () => {
    const r = await cli(['agents', 'list', '--ocf-root', root]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'AGENT         DESCRIPTION',
        'acme/Both     First of two',
        'acme/Web      Runs the web tier',
        'other/Both    Second of two',
        // The parser's own words after the colon.
        `other/Broken  (meta-data unreadable: meta-data is not well-formed XML: ${/not well-formed XML: (.*)\n/.exec(r.stdout)?.[1] ?? '(missing)'}`,
        'other/Fails   (meta-data unreadable: meta-data: OCF_ERR_INSTALLED (5): software the agent needs is not installed on this node: cannot work here)',
        '',
      ].join('\n'),
    );
    assert.match(r.stdout, /^other\/Broken  \(meta-data unreadable: meta-data is not well-formed XML: .*resource-agent.*\)$/m);
  });

  test('list -o json; OCF_ROOT from the environment', async () => {
    const r = await cli(['-o', 'json', 'agents', 'list'], { OCF_ROOT: root });
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; path: string; shortdesc: string; metadataError: string | null }[];
    assert.deepEqual(list.map((a) => a.name), ['acme/Both', 'acme/Web', 'other/Both', 'other/Broken', 'other/Fails']);
    assert.deepEqual(list[1], { name: 'acme/Web', path: join(root, 'resource.d/acme/Web'), shortdesc: 'Runs the web tier', metadataError: null });
  });

  test('describe: parameters and actions from the meta-data, and a config snippet', async () => {
    const r = await cli(['agents', 'describe', 'acme/Web', '--ocf-root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'acme/Web (version 1.0): Runs the web tier',
        join(root, 'resource.d/acme/Web'),
        '',
        'Long words about Web.',
        '',
        'Parameters (params: in halo.yaml, passed as OCF_RESKEY_<name>):',
        'NAME  REQUIRED  TYPE     DEFAULT  DESCRIPTION',
        'ip    yes       string   -        IPv4 address',
        'port  no        integer  80       Port',
        '',
        'Actions:',
        'ACTION   TIMEOUT  INTERVAL  ROLE',
        'start    20s      -         -',
        'monitor  10s      5s        -',
        '',
        'In halo.yaml:',
        '  - name: my-resource',
        '    type: ocf',
        '    agent: acme/Web',
        '    params:',
        '      ip: ...',
        '',
      ].join('\n'),
    );
    const bare = await cli(['agents', 'describe', 'Web', '--ocf-root', root]);
    assert.equal(bare.stdout, r.stdout, 'a type installed by one provider may be named alone');
    const json = await cli(['-o', 'json', 'agents', 'describe', 'acme/Web', '--ocf-root', root]);
    assert.equal((JSON.parse(json.stdout) as { parameters: { name: string }[] }).parameters.map((p) => p.name).join(), 'ip,port');
  });

  test('precise errors: unknown (with the closest name), ambiguous, malformed, unreadable meta-data, no agents at all', async () => {
    const cases: [readonly string[], number, string][] = [
      [['agents', 'describe', 'acme/Wbe', '--ocf-root', root], 1, `halo: HA_NOT_FOUND: unknown OCF agent "acme/Wbe" under ${root}/resource.d; did you mean acme/Web? ("halo agents list" shows the 5 installed)\n`],
      [['agents', 'describe', 'Wb', '--ocf-root', root], 1, `halo: HA_NOT_FOUND: unknown OCF agent "Wb" under ${root}/resource.d; did you mean acme/Web? ("halo agents list" shows the 5 installed)\n`],
      [['agents', 'describe', 'zzzzzzzz', '--ocf-root', root], 1, `halo: HA_NOT_FOUND: unknown OCF agent "zzzzzzzz" under ${root}/resource.d ("halo agents list" shows the 5 installed)\n`],
      [['agents', 'describe', 'Both', '--ocf-root', root], 1, 'halo: HA_BAD_REQUEST: agent "Both" is installed by several providers: acme/Both, other/Both; name one of them\n'],
      [['agents', 'describe', '../etc/passwd', '--ocf-root', root], 1, 'halo: HA_BAD_REQUEST: "../etc/passwd" is not an agent name: expected provider/type, e.g. heartbeat/Dummy\n'],
      [['agents', 'describe', 'other/Fails', '--ocf-root', root], 1, 'halo: HA_INTERNAL: other/Fails: cannot read its meta-data: meta-data: OCF_ERR_INSTALLED (5): software the agent needs is not installed on this node: cannot work here\n'],
      [['agents', 'list', '--ocf-root', join(root, 'nope')], 1, `halo: HA_NOT_FOUND: no OCF resource agents: ${root}/nope/resource.d does not exist (Debian: apt-get install -y resource-agents; another location: --ocf-root DIR or OCF_ROOT)\n`],
      [['agents', 'describe'], 2, 'halo: HA_BAD_REQUEST: missing required argument \'name\' (see "halo --help")\n'],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await cli(args);
      assert.deepEqual({ code: r.code, stderr: r.stderr, stdout: r.stdout }, { code, stderr, stdout: '' }, args.join(' '));
    }
  });

  test('Debian\'s resource-agents: Dummy and IPaddr2 are listed and described', { skip: existsSync('/usr/lib/ocf/resource.d/heartbeat/Dummy') ? false : 'resource-agents is not installed' }, async () => {
    const list = await cli(['agents', 'list'], {});
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^heartbeat\/Dummy +Example stateless resource agent$/m);
    assert.match(list.stdout, /^heartbeat\/IPaddr2 +Manages virtual IPv4 and IPv6 addresses \(Linux specific version\)$/m);
    const d = await cli(['agents', 'describe', 'heartbeat/IPaddr2']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^ip +yes +string +"" +IPv4 or IPv6 address$/m);
    assert.match(d.stdout, /^monitor +20s +10s +-$/m);
  });
});
