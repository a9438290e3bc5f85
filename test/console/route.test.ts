import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { CONSOLE_DIR, registerConsoleRoute } from '../../src/api/console-route.js';

function appFor(dir: string) {
  const app = Fastify();
  registerConsoleRoute(app, { dir });
  return app;
}

describe('console route', () => {
  test('serves the page at / and /console/, files under /console/ with their content types', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-console-route-'));
    try {
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>halo console</title>');
      writeFileSync(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
      writeFileSync(join(dir, 'assets', 'index-abc.css'), 'body{}');
      const app = appFor(dir);
      for (const url of ['/', '/console/', '/console/index.html']) {
        const r = await app.inject({ url });
        assert.equal(r.statusCode, 200, url);
        assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
        assert.match(r.body, /halo console/);
      }
      const redirect = await app.inject({ url: '/console' });
      assert.equal(redirect.statusCode, 302);
      assert.equal(redirect.headers.location, '/console/');
      const js = await app.inject({ url: '/console/assets/index-abc.js' });
      assert.equal(js.statusCode, 200);
      assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.match(String(js.headers['cache-control']), /immutable/);
      assert.equal(js.body, 'console.log(1)');
      assert.equal((await app.inject({ url: '/console/assets/index-abc.css' })).headers['content-type'], 'text/css; charset=utf-8');
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unknown files and paths outside the console folder are 404', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-console-route-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<!doctype html>');
      writeFileSync(join(dir, 'notes.unknown'), 'x');
      const app = appFor(join(dir));
      for (const url of ['/console/nope.js', '/console/assets/', '/console/..%2Findex.html', '/console/notes.unknown']) {
        const r = await app.inject({ url });
        assert.equal(r.statusCode, 404, url);
        assert.equal((r.json() as { code: string }).code, 'HA_NOT_FOUND', url);
      }
      // Dot segments may already be resolved by the router; either way nothing outside is served.
      writeFileSync(join(dir, '..', 'halo-console-route-secret.txt'), 'the-outside-file-content');
      for (const url of ['/console/%2e%2e/halo-console-route-secret.txt', '/console/../halo-console-route-secret.txt', '/console/%2E%2E%2Fhalo-console-route-secret.txt']) {
        const r = await app.inject({ url });
        assert.equal(r.statusCode, 404, url);
        assert.doesNotMatch(r.body, /the-outside-file-content/, url);
      }
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(join(dir, '..', 'halo-console-route-secret.txt'), { force: true });
    }
  });

  test('without a built console, / says so in a short text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-console-route-'));
    try {
      const app = appFor(join(dir, 'missing'));
      const r = await app.inject({ url: '/' });
      assert.equal(r.statusCode, 503);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      assert.match(r.body, /console was not built/);
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the default folder is dist/console next to the compiled sources', () => {
    assert.match(CONSOLE_DIR, /[/\\]dist[/\\]console[/\\]$/);
  });
});
