import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApi } from '../../src/api/index.js';
import { EndpointsResponseSchema, type EndpointStatusView } from '../../src/api/schemas.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CLUSTER, json, n1 } from './fixtures.js';
import { injectAs, makeToken } from '../support/auth.js';

describe('GET /v1/endpoints', () => {
  const front: EndpointStatusView = {
    group: 'web',
    name: 'front',
    mode: 'http',
    listen: '127.0.0.11:8081',
    backend: null,
    heldReason: 'switchover from n1 in progress',
    draining: false,
    held: 2,
    inFlight: 0,
    forwarded: 10,
    retried: 1,
    refused: 0,
  };

  for (const [what, endpoints, want] of [
    ['the agent lists its endpoints', () => [front], [front]],
    ['without an endpoint source: none', undefined, []],
  ] as const) {
    test(what, async () => {
      const clock = new ManualClock(0);
      const coord = new MemoryCoordinator({ clock });
      const app = await buildApi({ coord, cluster: CLUSTER, self: n1, clock, logger: false, ...(endpoints ? { endpoints } : {}) });
      injectAs(app, await makeToken(coord, CLUSTER, 'viewer'));
      try {
        const res = await app.inject({ method: 'GET', url: '/v1/endpoints' });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(EndpointsResponseSchema.parse(json(res.body)), { node: 'n1', endpoints: want });
        const doc = await app.inject({ method: 'GET', url: '/openapi.json' });
        assert.ok(doc.body.includes('"/v1/endpoints"'), 'documented in the OpenAPI document');
      } finally {
        await app.close();
        await coord.close();
      }
    });
  }
});
