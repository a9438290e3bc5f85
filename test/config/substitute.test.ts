import { test } from 'node:test';
import assert from 'node:assert/strict';
import { substituteNodeVars } from '../../src/config/index.js';

const vars = { HALO_NODE_ADDRESS: '127.0.0.12', HALO_NODE: 'n2' };

test('replaces both placeholders, every occurrence', () => {
  assert.equal(substituteNodeVars('http://${HALO_NODE_ADDRESS}:8080/health', vars), 'http://127.0.0.12:8080/health');
  assert.equal(substituteNodeVars('${HALO_NODE}@${HALO_NODE_ADDRESS} ${HALO_NODE}', vars), 'n2@127.0.0.12 n2');
});

test('leaves unknown and malformed placeholders as written', () => {
  assert.equal(substituteNodeVars('${HOME}/${HALO_NODES} $HALO_NODE ${HALO_NODE_ADDRESS', vars), '${HOME}/${HALO_NODES} $HALO_NODE ${HALO_NODE_ADDRESS');
  assert.equal(substituteNodeVars('${halo_node}', vars), '${halo_node}');
});

test('text without placeholders is unchanged', () => {
  assert.equal(substituteNodeVars('', vars), '');
  assert.equal(substituteNodeVars('plain 8080', vars), 'plain 8080');
});

test('replacement values are inserted literally (no $-pattern interpretation)', () => {
  assert.equal(substituteNodeVars('${HALO_NODE}', { HALO_NODE_ADDRESS: 'x', HALO_NODE: "$&$'$1" }), "$&$'$1");
});

test('substituted text is not scanned again', () => {
  assert.equal(substituteNodeVars('${HALO_NODE}', { HALO_NODE_ADDRESS: 'a', HALO_NODE: '${HALO_NODE_ADDRESS}' }), '${HALO_NODE_ADDRESS}');
});
