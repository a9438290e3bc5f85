import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/**
 * Durability-checker writer: appends numbered records to argv[2], fsyncs each one and only then
 * prints "acked <n>" (the record is acknowledged). Stops at argv[3] records or when killed.
 */
const file = process.argv[2] ?? '';
const max = Number(process.argv[3] ?? '1000000');
const fd = openSync(file, 'a');
for (let i = 1; i <= max; i++) {
  writeSync(fd, `record ${String(i).padStart(8, '0')} ${'x'.repeat(40)}\n`);
  fsyncSync(fd);
  process.stdout.write(`acked ${i}\n`);
}
closeSync(fd);
