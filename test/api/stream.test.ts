import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { EventItemSchema, type EventItem } from '../../src/api/schemas.js';
import { appendEvent, listEvents, trimEvents } from '../../src/observability/events.js';
import { appendJournal, listJournal } from '../../src/observability/journal.js';
import type { ClusterEvent } from '../../src/domain/state.js';
import { parseGroupId } from '../../src/domain/ids.js';
import { harness, keys, n1, web } from './fixtures.js';

const ev = (message: string, at = 1): ClusterEvent => ({ at, kind: 'waiting', node: n1, group: web, resource: null, message, epoch: null });

/** Reads SSE messages from a fetch body until `count` events arrived (or the stream ends). */
async function readEvents(body: ReadableStream<Uint8Array>, count: number, onEach?: (e: EventItem, i: number) => Promise<void>): Promise<EventItem[]> {
  const out: EventItem[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = body.getReader();
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let sep: number;
    while ((sep = buf.indexOf('\n\n')) >= 0 && out.length < count) {
      const msg = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      const data = msg.split('\n').find((l) => l.startsWith('data: '));
      if (!data || !msg.includes('event: event')) continue;
      const item = EventItemSchema.parse(JSON.parse(data.slice(6)));
      out.push(item);
      if (onEach) await onEach(item, out.length - 1);
    }
  }
  reader.releaseLock();
  return out;
}

describe('GET /v1/events/stream', () => {
  test('sends the tail, then live events, and stops when the client goes away', async () => {
    const h = await harness();
    try {
      await appendEvent(h.coord, 'demo', ev('old-1'));
      await appendEvent(h.coord, 'demo', ev('old-2'));
      await appendEvent(h.coord, 'demo', ev('old-3'));
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = h.app.server.address() as AddressInfo;
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/v1/events/stream?limit=2`, { headers: { authorization: `Bearer ${h.token}` }, signal: AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]) });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.ok(res.body);
      const got = await readEvents(res.body, 4, async (_e, i) => {
        // After the tail has arrived, write new events; they must come through the watch.
        if (i === 1) {
          await appendEvent(h.coord, 'demo', ev('live-1'));
          await appendEvent(h.coord, 'demo', ev('live-2'));
        }
      });
      assert.deepEqual(got.map((e) => e.message), ['old-2', 'old-3', 'live-1', 'live-2']);
      ac.abort();
    } finally {
      await h.close();
    }
  });

  test('closing the server ends open streams', async () => {
    const h = await harness();
    let closed = false;
    try {
      await appendEvent(h.coord, 'demo', ev('only'));
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = h.app.server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, { headers: { authorization: `Bearer ${h.token}` }, signal: AbortSignal.timeout(10_000) });
      assert.ok(res.body);
      const reader = res.body.getReader();
      const first = await reader.read();
      assert.match(new TextDecoder().decode(first.value), /"only"/);
      await h.app.close();
      closed = true;
      // The stream ends (done) instead of hanging until the client gives up.
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
      }
    } finally {
      if (!closed) await h.app.close();
      await h.coord.close();
    }
  });

  test('Last-Event-ID resumes after that revision', async () => {
    const h = await harness();
    try {
      await appendEvent(h.coord, 'demo', ev('a'));
      await appendEvent(h.coord, 'demo', ev('b'));
      await appendEvent(h.coord, 'demo', ev('c'));
      const { events } = await listEvents(h.coord, 'demo');
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = h.app.server.address() as AddressInfo;
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/v1/events/stream`, {
        headers: { authorization: `Bearer ${h.token}`, 'last-event-id': String(events[0]?.revision) },
        signal: AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]),
      });
      assert.ok(res.body);
      const got = await readEvents(res.body, 2);
      assert.deepEqual(got.map((e) => e.message), ['b', 'c']);
      ac.abort();
    } finally {
      await h.close();
    }
  });
});

describe('observability writers', () => {
  test('trimEvents keeps the newest N by create revision', async () => {
    const h = await harness();
    try {
      for (let i = 0; i < 10; i++) await appendEvent(h.coord, 'demo', ev(`e${i}`, 1000 - i));
      assert.equal(await trimEvents(h.coord, 'demo', 4), 6);
      const { events } = await listEvents(h.coord, 'demo');
      assert.deepEqual(events.map((e) => e.event.message), ['e6', 'e7', 'e8', 'e9']);
      assert.equal(await trimEvents(h.coord, 'demo', 4), 0);
    } finally {
      await h.close();
    }
  });

  test('event keys carry the zero-padded time and node; malformed records are reported', async () => {
    const h = await harness();
    try {
      await appendEvent(h.coord, 'demo', { ...ev('x', 1_700_000_000_123), node: null });
      await h.coord.put(`${keys.eventsPrefix}00000000000001-n1-bad`, '{"at":1}');
      const list = await listEvents(h.coord, 'demo');
      assert.equal(list.events.length, 1);
      assert.match(list.events[0]?.key ?? '', /\/events\/01700000000123-api-[0-9a-f]{8}$/);
      assert.deepEqual(list.malformed, [`${keys.eventsPrefix}00000000000001-n1-bad`]);
      await assert.rejects(appendEvent(h.coord, 'demo', { ...ev('y'), kind: 'nonsense' as never }));
    } finally {
      await h.close();
    }
  });

  test('journal keeps the newest entries per group, newest last', async () => {
    const h = await harness();
    try {
      const other = parseGroupId('db');
      for (let i = 0; i < 8; i++) {
        await appendJournal(h.coord, 'demo', { at: i, node: n1, group: web, rule: `r${i}`, code: 'C', message: '', actions: ['a'], revision: i }, { keep: 5 });
      }
      await appendJournal(h.coord, 'demo', { at: 0, node: n1, group: other, rule: 'x', code: 'C', message: '', actions: [], revision: 0 }, { keep: 5 });
      assert.deepEqual((await listJournal(h.coord, 'demo', web)).map((e) => e.rule), ['r3', 'r4', 'r5', 'r6', 'r7']);
      assert.deepEqual((await listJournal(h.coord, 'demo', web, { limit: 2 })).map((e) => e.rule), ['r6', 'r7']);
      assert.equal((await listJournal(h.coord, 'demo', other)).length, 1);
    } finally {
      await h.close();
    }
  });
});
