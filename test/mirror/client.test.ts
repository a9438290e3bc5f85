import assert from 'node:assert/strict';
import { createServer, type TLSSocket } from 'node:tls';
import { describe, test } from 'node:test';
import { MirrorClient } from '../../src/mirror/client.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { expectCode } from '../support/util.js';
import { portBlock } from './helpers.js';

const port = portBlock(8);
const certs = await testCerts(['n1', 'n2']);

describe('MirrorClient', { timeout: 10_000 }, () => {
  test('a peer that accepts the connection but never answers fails the request and the connection in time', async (t) => {
    const p = port();
    const held: TLSSocket[] = [];
    const standby = tlsOf(certs, 'n2');
    // Completes the TLS handshake (a genuine node), then reads nothing and answers nothing.
    const srv = createServer({ ...standby, requestCert: true, rejectUnauthorized: true }, (s) => held.push(s));
    await new Promise<void>((resolve) => srv.listen(p, '127.0.0.1', resolve));
    t.after(() => {
      held.forEach((s) => s.destroy());
      srv.close();
    });
    const c = await MirrorClient.open('127.0.0.1', p, 1, { tls: tlsOf(certs, 'n1'), peer: 'n2', answerTimeoutMs: 300 });
    const started = Date.now();
    await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_UNAVAILABLE');
    assert.ok(Date.now() - started >= 250, 'not before the answer timeout');
    assert.ok(c.closed, 'the connection is closed, so the link reconnects');
    await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_UNAVAILABLE');
  });
});
