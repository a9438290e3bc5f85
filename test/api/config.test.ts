import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  ConfigApplyResponseSchema,
  ConfigResponseSchema,
  ConfigValidateResponseSchema,
  ErrorBodySchema,
  EventsResponseSchema,
  MoveAcceptedSchema,
} from '../../src/api/schemas.js';
import { StoredConfigSchema } from '../../src/domain/state.js';
import { CONFIG_YAML, applyConfig, harness, json, keys, withTxnHook } from './fixtures.js';

const BAD_YAML = CONFIG_YAML.replace('apiPort: 7402', 'apiPort: "x"').replace('command: /bin/sleep\n        args: ["1000"]\n  - name: db', 'command: ""\n        args: ["1000"]\n  - name: db');

describe('configuration', () => {
  test('GET /v1/config before any apply: 404 with a hint', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/v1/config' });
      assert.equal(res.statusCode, 404);
      const e = ErrorBodySchema.parse(json(res.body));
      assert.equal(e.code, 'HA_NOT_FOUND');
      assert.match(e.message, /halo config apply/);
    } finally {
      await h.close();
    }
  });

  test('apply stores version 1 then 2, with source and an event', async () => {
    const h = await harness();
    try {
      h.clock.advance(500);
      const r1 = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG_YAML } });
      assert.equal(r1.statusCode, 200, r1.body);
      assert.deepEqual(ConfigApplyResponseSchema.parse(json(r1.body)), { version: 1, appliedAt: h.clock.wallNow(), cluster: 'demo' });
      const changed = CONFIG_YAML.replace('labels: { site: east }', 'labels: { site: west }');
      const r2 = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: changed, file: 'x.yaml' } });
      assert.equal(ConfigApplyResponseSchema.parse(json(r2.body)).version, 2);
      const got = ConfigResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/config' })).body));
      assert.equal(got.version, 2);
      assert.equal(got.source, changed);
      const kv = await h.coord.get(keys.config);
      const stored = StoredConfigSchema.parse(JSON.parse(kv?.value ?? 'null'));
      assert.deepEqual(stored.config.nodes[0]?.labels, { site: 'west' });
      const ev = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events' })).body));
      assert.deepEqual(ev.events.map((e) => [e.kind, e.message]), [
        ['config-applied', 'configuration version 1 applied (halo.yaml, test-admin@n1)'],
        ['config-applied', 'configuration version 2 applied (x.yaml, test-admin@n1)'],
      ]);
    } finally {
      await h.close();
    }
  });

  test('validate reports issues with file, line and column; writes nothing', async () => {
    const h = await harness();
    try {
      const bad = await h.app.inject({ method: 'POST', url: '/v1/config/validate', payload: { source: BAD_YAML, file: 'prod.yaml' } });
      assert.equal(bad.statusCode, 200);
      const v = ConfigValidateResponseSchema.parse(json(bad.body));
      assert.equal(v.ok, false);
      assert.deepEqual(v.issues.map((i) => [i.file, i.line, i.path]), [
        ['prod.yaml', 9, 'nodes[1].apiPort'],
        ['prod.yaml', 17, 'groups[0].resources[0].command'],
      ]);
      const good = await h.app.inject({ method: 'POST', url: '/v1/config/validate', payload: { source: CONFIG_YAML } });
      const root = 'command "/bin/sleep" runs as root; set user: to run it with fewer privileges';
      assert.deepEqual(ConfigValidateResponseSchema.parse(json(good.body)), {
        ok: true,
        issues: [],
        warnings: [
          { path: 'groups[0].resources[0]', message: root },
          { path: 'groups[1].resources[0]', message: root },
        ],
      });
      assert.equal(await h.coord.get(keys.config), undefined);
      const noSource = await h.app.inject({ method: 'POST', url: '/v1/config/validate', payload: { file: 'a.yaml' } });
      assert.equal(noSource.statusCode, 400);
      assert.match(ErrorBodySchema.parse(json(noSource.body)).message, /^body\.source:/);
    } finally {
      await h.close();
    }
  });

  test('an invalid configuration is rejected whole: 400 with issues, stored config unchanged', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const before = await h.coord.get(keys.config);
      const res = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: BAD_YAML, file: 'prod.yaml' } });
      assert.equal(res.statusCode, 400);
      const e = ErrorBodySchema.parse(json(res.body));
      assert.equal(e.code, 'HA_CONFIG_INVALID');
      assert.equal(e.message, 'prod.yaml: 2 problems; nothing was applied');
      assert.equal(e.issues?.length, 2);
      assert.match(e.details?.[0] ?? '', /^prod\.yaml:9:\d+: nodes\[1\]\.apiPort/);
      assert.deepEqual(await h.coord.get(keys.config), before);
    } finally {
      await h.close();
    }
  });

  test('changing the cluster name or the coordinator of a running cluster is refused', async () => {
    const h = await harness();
    try {
      const renamed = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG_YAML.replace('cluster: demo', 'cluster: other') } });
      assert.equal(renamed.statusCode, 400);
      const e1 = ErrorBodySchema.parse(json(renamed.body));
      assert.equal(e1.code, 'HA_CONFIG_INVALID');
      assert.match(e1.message, /^cluster: cannot rename a running cluster from "demo" to "other"/);
      assert.equal(await h.coord.get(keys.config), undefined);

      await applyConfig(h.app);
      const before = await h.coord.get(keys.config);
      const moved = CONFIG_YAML.replace('coordinator:\n  kind: memory', 'coordinator:\n  kind: embedded\n  address: 127.0.0.1:7555');
      const res = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: moved } });
      assert.equal(res.statusCode, 400);
      const e2 = ErrorBodySchema.parse(json(res.body));
      assert.match(e2.message, /^coordinator: cannot change the coordinator of a running cluster/);
      assert.deepEqual(await h.coord.get(keys.config), before);
    } finally {
      await h.close();
    }
  });

  test('GET /v1/config shows an inline etcd password as "***" and the rest of the text unchanged', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const kv = await h.coord.get(keys.config);
      const cur = StoredConfigSchema.parse(JSON.parse(kv?.value ?? 'null'));
      const withPassword = CONFIG_YAML.replace(
        'coordinator:\n  kind: memory',
        'coordinator:\n  kind: etcd # the prod etcd\n  endpoints: [https://10.0.0.1:2379]\n  auth:\n    username: halo\n    password: "s3cret: pw" # rotate yearly',
      );
      assert.notEqual(withPassword, CONFIG_YAML);
      // As a cluster started from that file would have stored it.
      await h.coord.put(keys.config, JSON.stringify({ ...cur, source: withPassword }));
      const got = ConfigResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/config' })).body));
      assert.ok(!got.source.includes('s3cret'), got.source);
      assert.equal(got.source, withPassword.replace('"s3cret: pw"', '"***"'));
    } finally {
      await h.close();
    }
  });

  test('a concurrent apply between read and write loses with 409', async () => {
    let armed = false;
    const h = await harness({
      wrap: (c) =>
        withTxnHook(c, async () => {
          if (!armed) return;
          armed = false;
          const kv = await c.get(keys.config);
          const cur = StoredConfigSchema.parse(JSON.parse(kv?.value ?? 'null'));
          await c.put(keys.config, JSON.stringify({ ...cur, version: cur.version + 1, source: 'concurrent' }));
        }),
    });
    try {
      await applyConfig(h.app);
      armed = true;
      const res = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG_YAML } });
      assert.equal(res.statusCode, 409);
      assert.equal(ErrorBodySchema.parse(json(res.body)).code, 'HA_CONFLICT');
      const got = ConfigResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/config' })).body));
      assert.deepEqual([got.version, got.source], [2, 'concurrent']);
    } finally {
      await h.close();
    }
  });
});

describe('GET /openapi.json', () => {
  test('lists every route and generates components from the zod schemas', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(res.statusCode, 200);
      const doc = z
        .object({
          openapi: z.string(),
          paths: z.record(z.string(), z.record(z.string(), z.unknown())),
          components: z.object({ schemas: z.record(z.string(), z.record(z.string(), z.unknown())) }),
        })
        .parse(json(res.body));
      assert.equal(doc.openapi, '3.1.0');
      const ops = Object.entries(doc.paths).flatMap(([p, m]) => Object.keys(m).map((verb) => `${verb.toUpperCase()} ${p}`));
      for (const op of [
        'GET /v1/status',
        'GET /v1/groups/{group}',
        'POST /v1/groups/{group}/switchover',
        'POST /v1/groups/{group}/failover',
        'POST /v1/groups/{group}/cleanup',
        'GET /v1/groups/{group}/why',
        'POST /v1/maintenance',
        'POST /v1/nodes/{node}/standby',
        'POST /v1/nodes/{node}/online',
        'GET /v1/events',
        'GET /v1/events/stream',
        'GET /v1/config',
        'POST /v1/config',
        'POST /v1/config/validate',
      ]) {
        assert.ok(ops.includes(op), `missing ${op}`);
      }
      for (const name of ['StatusResponse', 'GroupView', 'MoveAccepted', 'Error', 'SwitchoverRequest', 'MaintenanceRequest', 'ConfigSourceRequest']) {
        assert.ok(doc.components.schemas[name], `missing component ${name}`);
      }
      const move = doc.components.schemas['MoveAccepted'];
      assert.deepEqual(Object.keys(z.object({ properties: z.record(z.string(), z.unknown()) }).parse(move).properties).sort(), Object.keys(MoveAcceptedSchema.shape).sort());
      // every $ref points at a component that exists
      const refs = [...res.body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
      assert.ok(refs.length > 10);
      for (const r of refs) assert.ok(r !== undefined && doc.components.schemas[r], `dangling $ref ${r}`);
    } finally {
      await h.close();
    }
  });
});
