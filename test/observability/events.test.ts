import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyValue } from '../../src/coord/coordinator.js';
import { parseRevision } from '../../src/domain/ids.js';
import { parseEventRecord } from '../../src/observability/events.js';

const kv = (value: unknown): KeyValue => ({ key: '/halo/c/events/x', value: JSON.stringify(value), createRevision: parseRevision(7), modRevision: parseRevision(7), version: 1, lease: null });

const lossEvent = { at: 1000, kind: 'mirror-data-loss', node: 'n2', group: 'web', resource: 'data', message: 'mirror data: 700 bytes had not reached n2', epoch: 4 };

describe('stored events', () => {
  test('a mirror-data-loss event recorded before upperBound existed is still read (upperBound unknown)', () => {
    const r = parseEventRecord(kv({ ...lossEvent, loss: { bytes: 700, sinceAt: 800, asOfAt: 900 } }));
    assert.ok(r, 'the event is read, not dropped from the log');
    assert.deepEqual(r.event.loss, { bytes: 700, sinceAt: 800, asOfAt: 900 });
  });

  test('one with upperBound keeps it; malformed figures are not read', () => {
    assert.equal(parseEventRecord(kv({ ...lossEvent, loss: { bytes: 700, sinceAt: null, asOfAt: 900, upperBound: true } }))?.event.loss?.upperBound, true);
    assert.equal(parseEventRecord(kv({ ...lossEvent, loss: { bytes: -1, sinceAt: null, asOfAt: 900 } })), undefined);
    assert.equal(parseEventRecord(kv({ ...lossEvent, loss: { bytes: 1, sinceAt: null, asOfAt: 900, upperBound: 'yes' } })), undefined);
  });
});
