import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient } from '../../src/cli/client.js';
import { isClusterError } from '../../src/domain/errors.js';

/** A fetch whose answer per URL origin is scripted; records every call. */
function scriptedFetch(script: Record<string, (init: RequestInit | undefined) => Promise<Response>>) {
  const calls: string[] = [];
  const fn: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(`${init?.method ?? 'GET'} ${url}`);
    const origin = new URL(url).origin;
    const h = script[origin];
    if (!h) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    return h(init);
  };
  return { fn, calls };
}

const refused = () => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }));
const timeout = () => Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
const jsonRes = (status: number, body: unknown) => Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));

const MOVE = { id: 'm1', kind: 'failover', group: 'web', from: 'n1', to: null, epoch: 3 };

describe('ApiClient', () => {
  test('skips refused URLs and HA_COORD_UNAVAILABLE answers, uses the first good one', async () => {
    const f = scriptedFetch({
      'http://a:1': refused,
      'http://b:2': () => jsonRes(503, { code: 'HA_COORD_UNAVAILABLE', message: 'lost the store' }),
      'http://c:3': () => jsonRes(202, MOVE),
    });
    const c = new ApiClient({ urls: ['http://a:1', 'http://b:2/', 'http://c:3'], fetch: f.fn });
    const m = await c.failover('web');
    assert.equal(m.id, 'm1');
    assert.deepEqual(f.calls, ['POST http://a:1/v1/groups/web/failover', 'POST http://b:2/v1/groups/web/failover', 'POST http://c:3/v1/groups/web/failover']);
  });

  test('a write that timed out is not repeated on another node', async () => {
    const f = scriptedFetch({ 'http://a:1': timeout, 'http://b:2': () => jsonRes(202, MOVE) });
    const c = new ApiClient({ urls: ['http://a:1', 'http://b:2'], fetch: f.fn, timeoutMs: 50 });
    await assert.rejects(c.failover('web'), (e) => isClusterError(e, 'HA_AGENT_TIMEOUT') && /may have been applied/.test(e.message));
    assert.equal(f.calls.length, 1);
  });

  test('a read that timed out goes on to the next node', async () => {
    const f = scriptedFetch({ 'http://a:1': timeout, 'http://b:2': () => jsonRes(200, { group: 'web', entries: [] }) });
    const c = new ApiClient({ urls: ['http://a:1', 'http://b:2'], fetch: f.fn, timeoutMs: 50 });
    assert.deepEqual(await c.why('web', 5), { group: 'web', entries: [] });
    assert.deepEqual(f.calls, ['GET http://a:1/v1/groups/web/why?limit=5', 'GET http://b:2/v1/groups/web/why?limit=5']);
  });

  test('error bodies become ClusterError with the server code; other answers are not retried', async () => {
    const f = scriptedFetch({
      'http://a:1': () => jsonRes(404, { code: 'HA_NOT_FOUND', message: 'unknown group "x"; known groups: web' }),
      'http://b:2': () => jsonRes(202, MOVE),
    });
    const c = new ApiClient({ urls: ['http://a:1', 'http://b:2'], fetch: f.fn });
    await assert.rejects(c.failover('x'), (e) => isClusterError(e, 'HA_NOT_FOUND') && e.message === 'unknown group "x"; known groups: web');
    assert.equal(f.calls.length, 1);
  });

  test('nobody answering lists every URL with its reason', async () => {
    const f = scriptedFetch({ 'http://b:2': timeout });
    const c = new ApiClient({ urls: ['http://a:1', 'http://b:2'], fetch: f.fn, timeoutMs: 50 });
    await assert.rejects(c.status(), (e) => isClusterError(e, 'HA_AGENT_TIMEOUT') && e.message.includes('http://a:1 (connection refused), http://b:2 (no answer within 50 ms)'));
  });

  test('an answer of the wrong shape is reported, not passed on', async () => {
    const f = scriptedFetch({ 'http://a:1': () => jsonRes(200, { cluster: 'demo' }) });
    const c = new ApiClient({ urls: ['http://a:1'], fetch: f.fn });
    await assert.rejects(c.status(), (e) => isClusterError(e, 'HA_INTERNAL') && /unexpected shape/.test(e.message));
  });

  test('the event stream parses SSE messages and raises a server-sent error with its code', async () => {
    const item = { revision: 9, at: 1, kind: 'waiting', node: null, group: 'web', resource: null, message: 'hello', epoch: null };
    const body = `: keep-alive\n\nid: 9\nevent: event\ndata: ${JSON.stringify(item)}\n\nevent: error\ndata: {"code":"HA_COORD_COMPACTED","message":"history gone"}\n\n`;
    const f = scriptedFetch({ 'http://a:1': () => Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })) });
    const c = new ApiClient({ urls: ['http://a:1'], fetch: f.fn });
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of c.streamEvents({ after: 3 })) got.push(e.message);
      })(),
      (e) => isClusterError(e, 'HA_COORD_COMPACTED'),
    );
    assert.deepEqual(got, ['hello']);
    assert.deepEqual(f.calls, ['GET http://a:1/v1/events/stream?after=3']);
  });
});
