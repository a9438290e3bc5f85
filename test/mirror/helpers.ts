import { mkdtempSync, readdirSync, readFileSync, lstatSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh temporary directory removed after the test. */
export function tempDir(t: TestContext, prefix = 'halo-mirror-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Ports of the mirror tests: 24000-24999 (below Linux's ephemeral range, 32768-60999), a block of 50 per test file. */
export function portBlock(block: number): () => number {
  let next = 24000 + block * 50;
  const end = next + 50;
  return () => {
    if (next >= end) throw new Error(`port block ${block} exhausted`);
    return next++;
  };
}

/** Path -> content (files), 'dir', or '-> target' (symlinks) of a whole tree, for comparisons. */
export function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? root : join(root, rel)).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, p));
      if (st.isDirectory()) {
        out[p] = 'dir';
        walk(p);
      } else if (st.isSymbolicLink()) out[p] = `-> ${readlinkSync(join(root, p))}`;
      else out[p] = readFileSync(join(root, p)).toString('base64');
    }
  };
  walk('');
  return out;
}
