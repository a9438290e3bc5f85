import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VipResourceSchema, type VipResourceConfig } from '../../src/domain/config.js';
import { VipAgent } from '../../src/resources/vip/agent.js';
import { sandbox } from './helpers.js';

/**
 * The vip resource's refusals, which need no namespace: a missing interface and missing privileges
 * are precise, typed results and change nothing. (Moving an address between hosts is
 * test/netns/vip.test.ts.)
 */
const cfg = (o: Record<string, unknown> = {}): VipResourceConfig =>
  VipResourceSchema.parse({ name: 'ip', type: 'vip', address: '10.213.157.200', interface: 'halo-nope0', ...o });

const isRoot = process.getuid?.() === 0;

describe('vip resource refusals', { skip: process.platform === 'linux' ? false : 'Linux only' }, () => {
  test('an interface that does not exist: start fails with HA_RESOURCE_START_FAILED naming it; probe reports failed; stop is a no-op', { skip: isRoot ? false : 'needs root (CAP_NET_ADMIN) to get past the privilege check' }, async (t) => {
    const sb = sandbox(t);
    const agent = new VipAgent(cfg());
    assert.deepEqual(await agent.start(sb.ctx), {
      ok: false,
      code: 'HA_RESOURCE_START_FAILED',
      detail: 'vip ip: interface halo-nope0 does not exist on this node (ip link shows the ones that do)',
    });
    assert.deepEqual(await agent.probe(sb.ctx), { kind: 'failed', detail: 'vip ip: interface halo-nope0 does not exist on this node (ip link shows the ones that do)' });
    assert.deepEqual(await agent.stop(sb.ctx), { ok: true, detail: '10.213.157.200/24 was not on halo-nope0' });
    assert.equal(existsSync(join(sb.ctx.stateDir, 'fence-guard.json')), false, 'no guard was left behind');
  });

  test('an interface name too long after substituting ${HALO_NODE}', { skip: isRoot ? false : 'needs root' }, async (t) => {
    const sb = sandbox(t);
    const r = await new VipAgent(cfg({ interface: 'veth-${HALO_NODE}' }), { HALO_NODE: 'a-long-node-name' }).start(sb.ctx);
    assert.deepEqual(r, { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: 'vip ip: interface name "veth-a-long-node-name" is longer than 15 characters' });
  });

  test('without root or CAP_NET_ADMIN: HA_PERMISSION saying what is missing and what to do', { skip: isRoot && existsSync('/usr/bin/setpriv') ? false : 'needs root and setpriv to run a child without privileges' }, () => {
    const mod = pathToFileURL(join(import.meta.dirname, '../../src/resources/vip/agent.js')).href;
    const script = `
      const { VipAgent } = await import(${JSON.stringify(mod)});
      const a = new VipAgent({ name: 'ip', type: 'vip', address: '10.0.0.5', prefixLength: 24, interface: 'eth0', arpCount: 1, startTimeoutMs: 5000, stopTimeoutMs: 5000, checkIntervalMs: 1000, monitors: [] });
      const r = await a.start({ node: 'n1', group: 'web', epoch: 1, role: 'active', stateDir: '/nonexistent', fenceFile: '/nonexistent/fence' });
      process.stdout.write(JSON.stringify(r));`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { ok: boolean; code: string; detail: string };
    assert.equal(res.ok, false);
    assert.equal(res.code, 'HA_PERMISSION');
    assert.equal(
      res.detail,
      'vip ip: adding 10.0.0.5/24 on eth0 needs root or CAP_NET_ADMIN, which this agent (uid 65534) does not have: run the halo agent as root, or give it CAP_NET_ADMIN and CAP_NET_RAW ' +
        '(systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; a plain process: setcap cap_net_admin,cap_net_raw+ep on the node binary)',
    );
  });
});
