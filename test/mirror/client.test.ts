import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { MirrorClient } from '../../src/mirror/client.js';
import { expectCode } from '../support/util.js';
import { portBlock } from './helpers.js';

const port = portBlock(8);

describe('MirrorClient', { timeout: 10_000 }, () => {
  test('a peer that accepts the connection but never answers fails the request and the connection in time', async (t) => {
    const p = port();
    const held: Socket[] = [];
    const srv = createServer((s) => held.push(s)); // reads nothing, answers nothing
    await new Promise<void>((resolve) => srv.listen(p, '127.0.0.1', resolve));
    t.after(() => {
      held.forEach((s) => s.destroy());
      srv.close();
    });
    const c = await MirrorClient.open('127.0.0.1', p, 1, { answerTimeoutMs: 300 });
    const started = Date.now();
    await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_UNAVAILABLE');
    assert.ok(Date.now() - started >= 250, 'not before the answer timeout');
    assert.ok(c.closed, 'the connection is closed, so the link reconnects');
    await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_UNAVAILABLE');
  });
});
