import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OcfResourceSchema, type OcfResourceConfig } from '../../src/domain/config.js';
import { isSameProcess } from '../../src/platform/proc.js';
import { writeFenceDeadline } from '../../src/resources/process/fence.js';
import { OcfAgent } from '../../src/resources/ocf/agent.js';
import { parseMetadata, parseOcfDuration } from '../../src/resources/ocf/metadata.js';
import { describeOcf, listAgents, ocfOutcome, OcfRunner } from '../../src/resources/ocf/runner.js';
import { lastFenceAction, runningFenceAction } from '../../src/resources/fence-action.js';
import { eventually, sandbox } from './helpers.js';

/**
 * The ocf resource against Debian's resource-agents (heartbeat/Dummy) and a test agent of our own
 * that answers every action with a chosen exit code, so each OCF code's mapping and message is
 * checked exactly.
 */
const DUMMY = '/usr/lib/ocf/resource.d/heartbeat/Dummy';
function dummySkip(): string | false {
  if (existsSync(DUMMY)) return false;
  if (process.env['CI'] === 'true') throw new Error(`${DUMMY} is missing in CI: install resource-agents (.ci/run does)`);
  return 'skipped: heartbeat/Dummy is not installed (apt-get install -y resource-agents)';
}

/** An OCF root with provider "halotest": agent Codes exits with $OCF_RESKEY_code (sleeping $OCF_RESKEY_sleep s first). */
function testRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'halo-ocf-'));
  mkdirSync(join(root, 'resource.d', 'halotest'), { recursive: true });
  const agent = join(root, 'resource.d', 'halotest', 'Codes');
  writeFileSync(
    agent,
    [
      '#!/bin/sh',
      'if [ "$1" = meta-data ]; then echo "<resource-agent name=\\"Codes\\"><shortdesc lang=\\"en\\">t</shortdesc><parameters/><actions/></resource-agent>"; exit 0; fi',
      'env | grep -E "^OCF_" | sort > "$OCF_RESKEY_envfile"',
      '[ -n "$OCF_RESKEY_sleep" ] && sleep "$OCF_RESKEY_sleep"',
      'echo "action $1 says $OCF_RESKEY_code" >&2',
      'exit "$OCF_RESKEY_code"',
      '',
    ].join('\n'),
  );
  chmodSync(agent, 0o755);
  writeFileSync(join(root, 'resource.d', 'halotest', 'NotExecutable'), '#!/bin/sh\nexit 0\n');
  return root;
}

const cfg = (o: Record<string, unknown>): OcfResourceConfig => OcfResourceSchema.parse({ name: 'r1', type: 'ocf', ...o });

describe('OCF exit codes', () => {
  test('every code maps to a halo outcome', () => {
    assert.deepEqual(ocfOutcome(0), { kind: 'ok', code: 0 });
    assert.deepEqual(ocfOutcome(7), { kind: 'not-running' });
    assert.deepEqual(ocfOutcome(8), { kind: 'master', code: 8 });
    assert.deepEqual(ocfOutcome(9), { kind: 'failed-master' });
    assert.deepEqual(ocfOutcome(190), { kind: 'ok', code: 190 });
    assert.deepEqual(ocfOutcome(6), { kind: 'error', code: 6, name: 'OCF_ERR_CONFIGURED', meaning: 'the resource is misconfigured (check its params)' });
    assert.deepEqual(ocfOutcome(42), { kind: 'error', code: 42, name: 'exit 42', meaning: 'not an OCF exit code' });
  });

  test('an agent\'s codes, output, environment and timeouts, run for real', async () => {
    const root = testRoot();
    try {
      const envfile = join(root, 'env.txt');
      const ref = { ocfRoot: root, provider: 'halotest', type: 'Codes' };
      const run = async (code: number, action: 'start' | 'monitor' | 'promote' | 'demote' = 'start', extra: Record<string, string> = {}) =>
        describeOcf(await new OcfRunner(ref, 'web.r1', { code: String(code), envfile, ...extra }).run(action, { timeoutMs: 2000, intervalMs: 500 }));
      assert.equal(await run(0), 'start: OCF_SUCCESS');
      assert.equal(await run(1), 'start: OCF_ERR_GENERIC (1): generic error (the agent\'s output or the system log says more): action start says 1');
      assert.equal(await run(2), 'start: OCF_ERR_ARGS (2): invalid or missing parameters: action start says 2');
      assert.equal(await run(3), 'start: OCF_ERR_UNIMPLEMENTED (3): action not implemented by this agent: action start says 3');
      assert.equal(await run(5), 'start: OCF_ERR_INSTALLED (5): software the agent needs is not installed on this node: action start says 5');
      assert.equal(await run(6), 'start: OCF_ERR_CONFIGURED (6): the resource is misconfigured (check its params): action start says 6');
      assert.equal(await run(7, 'monitor'), 'monitor: OCF_NOT_RUNNING (7): action monitor says 7');
      assert.equal(await run(8, 'monitor'), 'monitor: OCF_RUNNING_MASTER (8)');
      assert.equal(await run(9, 'monitor'), 'monitor: OCF_FAILED_MASTER (9): failed while promoted: action monitor says 9');
      assert.equal(await run(0, 'promote'), 'promote: OCF_SUCCESS');
      assert.equal(await run(1, 'demote'), 'demote: OCF_ERR_GENERIC (1): generic error (the agent\'s output or the system log says more): action demote says 1');
      const t0 = Date.now();
      const slow = await new OcfRunner(ref, 'web.r1', { code: '0', envfile, sleep: '5' }).run('stop', { timeoutMs: 300 });
      assert.equal(slow.outcome.kind, 'timeout');
      assert.ok(Date.now() - t0 < 2000, 'the agent was killed at its timeout');
      assert.equal(describeOcf(slow), 'stop: no answer within 300 ms (killed)');
      // The environment Pacemaker gives an agent.
      await run(0, 'monitor');
      const { readFileSync } = await import('node:fs');
      const env = readFileSync(envfile, 'utf8');
      for (const line of [
        `OCF_ROOT=${root}`,
        `OCF_FUNCTIONS_DIR=${root}/lib/heartbeat`,
        'OCF_RESOURCE_INSTANCE=web.r1',
        'OCF_RESOURCE_TYPE=Codes',
        'OCF_RESOURCE_PROVIDER=halotest',
        'OCF_RESKEY_code=0',
        'OCF_RESKEY_CRM_meta_timeout=2000',
        'OCF_RESKEY_CRM_meta_interval=500',
        'OCF_RA_VERSION_MAJOR=1',
      ]) {
        assert.ok(env.split('\n').includes(line), `${line} in:\n${env}`);
      }
      // Only executable files count as installed agents.
      assert.deepEqual(listAgents(root).map((a) => `${a.provider}/${a.type}`), ['halotest/Codes']);
      const missing = await new OcfRunner({ ocfRoot: root, provider: 'halotest', type: 'Nope' }, 'x', {}).run('start', { timeoutMs: 1000 });
      assert.match(describeOcf(missing), /^start: OCF agent halotest\/Nope is not installed: .*resource\.d\/halotest\/Nope does not exist; `halo agents list` shows the installed ones$/);
      const noexec = await new OcfRunner({ ocfRoot: root, provider: 'halotest', type: 'NotExecutable' }, 'x', {}).run('start', { timeoutMs: 1000 });
      assert.match(describeOcf(noexec), /NotExecutable is not executable \(EACCES\)/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a failing start is a precise failed result; OCF_ERR_PERM is HA_PERMISSION', async (t) => {
    const root = testRoot();
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const sb = sandbox(t);
    const envfile = join(root, 'env.txt');
    const bad = await new OcfAgent(cfg({ agent: 'halotest/Codes', ocfRoot: root, params: { code: '6', envfile } })).start(sb.ctx);
    assert.deepEqual(bad, { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: 'halotest/Codes start: OCF_ERR_CONFIGURED (6): the resource is misconfigured (check its params): action start says 6' });
    const perm = await new OcfAgent(cfg({ agent: 'halotest/Codes', ocfRoot: root, params: { code: '4', envfile } })).start(sb.ctx);
    assert.equal(perm.ok ? 'ok' : perm.code, 'HA_PERMISSION');
    const probe = await new OcfAgent(cfg({ agent: 'halotest/Codes', ocfRoot: root, params: { code: '1', envfile } })).probe(sb.ctx);
    assert.equal(probe.kind, 'failed');
  });
});

describe('ocf resource with heartbeat/Dummy', { skip: dummySkip() }, () => {
  test('start, monitor, idempotent stop; the monitor notices the state file is gone', async (t) => {
    const sb = sandbox(t);
    const state = join(sb.dir, 'dummy.state');
    const agent = new OcfAgent(cfg({ agent: 'heartbeat/Dummy', params: { state }, monitorIntervalMs: 100 }));
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
    assert.equal((await agent.stop(sb.ctx)).ok, true, 'stop when stopped is fine');
    const started = await agent.start(sb.ctx);
    assert.equal(started.ok, true, JSON.stringify(started));
    assert.equal(existsSync(state), true);
    assert.equal((await agent.start(sb.ctx)).ok, true, 'start when running is fine');
    const p = await agent.probe(sb.ctx);
    assert.equal(p.kind, 'running');
    assert.equal(p.detail, 'monitor: OCF_SUCCESS');
    assert.ok(runningFenceAction(sb.ctx.stateDir), 'a fence-action guard runs while the resource is started');

    const watch = new AbortController();
    const exited = agent.exited(sb.ctx, watch.signal);
    rmSync(state);
    const t0 = Date.now();
    assert.equal(await exited, 'heartbeat/Dummy monitor: OCF_NOT_RUNNING (7): ocf-exit-reason:No process state file found');
    assert.ok(Date.now() - t0 < 1000, 'noticed within a few monitor intervals');
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');

    assert.equal((await agent.start(sb.ctx)).ok, true);
    const stopped = await agent.stop(sb.ctx);
    assert.equal(stopped.ok, true);
    assert.equal(existsSync(state), false);
    assert.equal(runningFenceAction(sb.ctx.stateDir), null, 'the guard is released by a proper stop');
  });

  test('the fence-action guard runs the agent\'s stop when the fence deadline passes (the halo agent is gone)', async (t) => {
    const sb = sandbox(t);
    const state = join(sb.dir, 'dummy.state');
    const agent = new OcfAgent(cfg({ agent: 'heartbeat/Dummy', params: { state } }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const guard = runningFenceAction(sb.ctx.stateDir);
    assert.ok(guard);
    sb.fence.stop();
    writeFenceDeadline(sb.ctx.fenceFile, 0);
    await eventually('state file removed by the guard', () => !existsSync(state), { timeoutMs: 5000 });
    await eventually('guard exited', () => !isSameProcess(guard.pid, guard.startTime), { timeoutMs: 5000 });
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
  });

  test('a start after the fence deadline fails and leaves nothing running', async (t) => {
    const sb = sandbox(t);
    const state = join(sb.dir, 'dummy.state');
    const agent = new OcfAgent(cfg({ agent: 'heartbeat/Dummy', params: { state } }));
    sb.fence.stop();
    writeFenceDeadline(sb.ctx.fenceFile, 0);
    const r = await agent.start(sb.ctx);
    assert.equal(r.ok, false);
    // The guard checks the deadline as it starts, so the expired fence is seen before the agent's start runs.
    assert.match(r.ok ? '' : r.detail, /^heartbeat\/Dummy: not started: (fencing|fenced) \(fence deadline passed \d+ ms ago\)/);
    await eventually('guard done', () => runningFenceAction(sb.ctx.stateDir) === null, { timeoutMs: 5000 });
    assert.equal(existsSync(state), false, `the Dummy state file is gone (start said: ${r.detail}; guard: ${lastFenceAction(sb.ctx.stateDir)})`);
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
  });

  test('meta-data is parsed: parameters, defaults, advertised timeouts', async () => {
    const r = await new OcfRunner({ ocfRoot: '/usr/lib/ocf', provider: 'heartbeat', type: 'Dummy' }, '', {}).run('meta-data', { timeoutMs: 5000 });
    const m = parseMetadata(r.stdout);
    assert.ok(m.ok);
    assert.equal(m.metadata.name, 'Dummy');
    const stateParam = m.metadata.parameters.find((p) => p.name === 'state');
    assert.ok(stateParam);
    assert.equal(stateParam.shortdesc, 'State file');
    assert.equal(stateParam.required, false);
    assert.equal(m.metadata.actions.find((a) => a.name === 'monitor')?.intervalMs, 10_000);
    assert.equal(m.metadata.actions.find((a) => a.name === 'start')?.timeoutMs, 20_000);
  });
});

describe('OCF meta-data parsing', () => {
  test('durations in Pacemaker units', () => {
    assert.equal(parseOcfDuration('20s'), 20_000);
    assert.equal(parseOcfDuration('20'), 20_000);
    assert.equal(parseOcfDuration('100ms'), 100);
    assert.equal(parseOcfDuration('2m'), 120_000);
    assert.equal(parseOcfDuration('1h'), 3_600_000);
    assert.equal(parseOcfDuration('soon'), null);
  });

  test('malformed and foreign documents are errors, not throws', () => {
    const bad = parseMetadata('<resource-agent><parameters>');
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.error, /^meta-data is not well-formed XML: /);
    assert.deepEqual(parseMetadata('<html/>'), { ok: false, error: 'meta-data has no <resource-agent> element' });
  });

  test('one parameter, several languages, required flag', () => {
    const m = parseMetadata(
      '<?xml version="1.0"?><!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd"><resource-agent name="X"><version>1.1</version>' +
        '<shortdesc lang="de">Ding</shortdesc><shortdesc lang="en">Thing</shortdesc><parameters><parameter name="ip" required="1" unique="1">' +
        '<shortdesc lang="en">Address &amp; more</shortdesc><content type="string"/></parameter></parameters>' +
        '<actions><action name="promote" timeout="90s" role="Promoted"/></actions></resource-agent>',
    );
    assert.deepEqual(m, {
      ok: true,
      metadata: {
        name: 'X',
        version: '1.1',
        shortdesc: 'Thing',
        longdesc: '',
        parameters: [{ name: 'ip', required: true, unique: true, type: 'string', default: null, shortdesc: 'Address & more', longdesc: '' }],
        actions: [{ name: 'promote', timeoutMs: 90_000, intervalMs: null, role: 'Promoted' }],
      },
    });
  });
});
