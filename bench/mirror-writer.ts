import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/**
 * fsync latency probe for bench/mirror.ts: appends argv[4] bytes argv[3] times to argv[2], fsyncs
 * after each append and prints the fsync latencies (ms) as a JSON array. Run it with or without
 * the fsync shim preloaded.
 */
const file = process.argv[2] ?? '';
const n = Number(process.argv[3] ?? '1000');
const size = Number(process.argv[4] ?? '4096');
const buf = Buffer.alloc(size, 0x61);
const fd = openSync(file, 'a');
const out: number[] = [];
for (let i = 0; i < n; i++) {
  writeSync(fd, buf);
  const t = performance.now();
  fsyncSync(fd);
  out.push(Math.round((performance.now() - t) * 1000) / 1000);
}
closeSync(fd);
process.stdout.write(JSON.stringify(out));
