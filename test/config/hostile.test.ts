import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssues, loadConfigFile, parseConfigText, type ConfigIssue } from '../../src/config/index.js';
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH } from '../../src/config/load.js';

/**
 * Hostile configuration text (through the API's validate/apply or a file given to the CLI):
 * refused quickly, with one precise issue, never a hang, a stack overflow or a process warning.
 */

function refused(text: string, maxMs = 2_000): { issues: ConfigIssue[]; ms: number } {
  const started = performance.now();
  const r = parseConfigText(text, 'halo.yaml');
  const ms = performance.now() - started;
  if (r.ok) assert.fail('expected the config to be rejected');
  assert.ok(ms < maxMs, `took ${Math.round(ms)} ms`);
  return { issues: r.issues, ms };
}

function one(text: string): ConfigIssue {
  const { issues } = refused(text);
  assert.equal(issues.length, 1, formatIssues(issues));
  const [i] = issues;
  assert.ok(i);
  return i;
}

/** Billion laughs: `levels` anchors, each a list of `width` aliases of the one before. */
function laughs(levels: number, width: number): string {
  const lines = [`a0: &a0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
  return `cluster: demo\n${lines.join('\n')}\n`;
}

const nestedMessage = `nested more than ${MAX_YAML_DEPTH} levels deep: expected at most ${MAX_YAML_DEPTH} levels of mappings and lists`;

describe('config: hostile YAML', () => {
  test('billion laughs (9 levels of 9 aliases, 9^9 copies) is refused at once, naming the alias limit', () => {
    const i = one(laughs(9, 9));
    assert.equal(
      i.message,
      `aliases (*name) expand to more than ${MAX_YAML_ALIASES} copies: expected at most ${MAX_YAML_ALIASES} (an alias of a collection counts once for every alias inside it)`,
    );
    assert.deepEqual([i.path, i.line], ['(root)', 1]);
  });

  test('a few aliases are still fine', () => {
    const r = parseConfigText('cluster: demo\nnodes:\n  - { name: n1, apiPort: 7401, labels: &l { site: east } }\n  - { name: n2, apiPort: 7402, labels: *l }\n', 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
  });

  test('flow nesting 200 000 levels deep: one issue at the first collection past the limit, in linear time', () => {
    const n = 200_000;
    const i = one(`cluster: demo\nnodes: ${'['.repeat(n)}${']'.repeat(n)}\n`);
    assert.equal(i.message, nestedMessage);
    // "nodes:" opens level 1 (the top mapping); the 64th "[" is level 65.
    assert.deepEqual([i.line, i.column], [2, 8 + MAX_YAML_DEPTH - 1]);
    const maps = one(`cluster: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`);
    assert.equal(maps.message, nestedMessage);
  });

  test('block nesting (indented mappings, compact "- - -" lists) past the limit is refused the same way', () => {
    const indented = Array.from({ length: 300 }, (_, k) => `${' '.repeat(k)}k${k}:`).join('\n');
    const i = one(`${indented} 1\n`);
    assert.equal(i.message, nestedMessage);
    assert.equal(i.line, MAX_YAML_DEPTH + 1);
    const compact = one(`cluster: demo\nnodes:\n${'- '.repeat(100_000)}x\n`);
    assert.equal(compact.message, nestedMessage);
    assert.equal(compact.line, 3);
  });

  test('exactly the limit is read (and then judged by the schema)', () => {
    const { issues } = refused(`cluster: demo\nnodes: ${'['.repeat(MAX_YAML_DEPTH - 1)}${']'.repeat(MAX_YAML_DEPTH - 1)}\n`);
    assert.ok(issues.every((x) => x.message !== nestedMessage), formatIssues(issues));
  });

  test('a mapping or list used as a key is refused at the key, without a process warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const msg = 'a mapping or list used as a key: expected a plain name (a string) as every key';
      const block = one('cluster: demo\n? [a, b]\n: 1\n');
      assert.deepEqual([block.path, block.line, block.column, block.value, block.message], ['(root)', 2, 3, '"[a, b]"', msg]);
      const flow = one('cluster: demo\nnodes:\n  - {[n]: 1, name: n1}\n');
      assert.deepEqual([flow.path, flow.line, flow.column, flow.message], ['nodes[0]', 3, 6, msg]);
      const alias = one('cluster: demo\nx: &k {a: 1}\n*k : 2\n');
      assert.deepEqual([alias.line, alias.column, alias.value, alias.message], [3, 1, '"*k"', msg]);
      // Process warnings are emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.map((w) => w.message), []);
  });

  test('the CLI reads files through the same limits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-hostile-'));
    try {
      const file = join(dir, 'halo.yaml');
      await writeFile(file, laughs(12, 12));
      const r = await loadConfigFile(file);
      assert.ok(!r.ok);
      assert.match(r.issues[0]?.message ?? '', new RegExp(`more than ${MAX_YAML_ALIASES} copies`));
      await writeFile(file, `cluster: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
      const deep = await loadConfigFile(file);
      assert.ok(!deep.ok);
      assert.equal(deep.issues[0]?.message, nestedMessage);
      assert.equal(deep.issues[0]?.file, file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
