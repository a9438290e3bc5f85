import { readFileSync } from 'node:fs';
import { MirrorReceiver } from '../src/mirror/receiver.js';

/**
 * The standby of bench/mirror.ts in its own process, as on a real standby node (one event loop
 * per side): a MirrorReceiver for argv[2] (journal etc. in argv[3]) on 127.0.0.1:argv[4], with
 * the TLS identity in the PEM files argv[6] (CA), argv[7] (certificate), argv[8] (key); argv[5]
 * 'plain' runs the link unencrypted instead (to measure what TLS costs). Prints "ready" once
 * listening; on SIGTERM stops and prints the bytes it received, then exits.
 */
const arg = (i: number): string => process.argv[i] ?? '';
const receiver = new MirrorReceiver({
  dir: arg(2),
  metaDir: arg(3),
  host: '127.0.0.1',
  port: Number(arg(4)),
  tls: { ca: readFileSync(arg(6), 'utf8'), cert: readFileSync(arg(7), 'utf8'), key: readFileSync(arg(8), 'utf8') },
  unencryptedForBenchmark: arg(5) === 'plain',
});
await receiver.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  const bytes = receiver.status().bytes;
  void receiver.stop().then(() => {
    process.stdout.write(`bytes ${bytes}\n`);
    process.exit(0);
  });
});
