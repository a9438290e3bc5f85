import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BLOCK_SIZE } from '../../src/mirror/protocol.js';
import { blockSum, fileSums } from '../../src/mirror/scan.js';
import { tempDir } from './helpers.js';

describe('fileSums', () => {
  test('block sums and block data match the file at every size around the block and read boundaries', async (t) => {
    const dir = tempDir(t);
    const sizes = [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 16 * BLOCK_SIZE - 1, 16 * BLOCK_SIZE, 16 * BLOCK_SIZE + 1, 40 * BLOCK_SIZE + 5];
    for (const size of sizes) {
      const content = randomBytes(size);
      const file = join(dir, `f${size}`);
      writeFileSync(file, content);
      const kept: Buffer[] = [];
      const { size: got, sums } = await fileSums(file, (i, data, sum) => {
        assert.equal(sum, blockSum(data), `size ${size}: block ${i}'s sum is its data's`);
        kept.push(Buffer.from(data));
      });
      const blocks = Math.ceil(size / BLOCK_SIZE);
      assert.equal(got, size);
      assert.equal(sums.length, blocks, `size ${size}: one sum per block`);
      for (let i = 0; i < blocks; i++) assert.equal(sums[i], blockSum(content.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)), `size ${size}: block ${i}`);
      assert.ok(Buffer.concat(kept).equals(content), `size ${size}: the blocks handed out are the file`);
    }
  });

  test('a file that does not exist: size -1, no sums', async (t) => {
    assert.deepEqual(await fileSums(join(tempDir(t), 'nope')), { size: -1, sums: [] });
  });
});
