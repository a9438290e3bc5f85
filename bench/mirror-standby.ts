import { MirrorReceiver } from '../src/mirror/receiver.js';

/**
 * The standby of bench/mirror.ts in its own process, as on a real standby node (one event loop
 * per side): a MirrorReceiver for argv[2] (journal etc. in argv[3]) on 127.0.0.1:argv[4]. Prints
 * "ready" once listening; on SIGTERM stops and prints the bytes it received, then exits.
 */
const receiver = new MirrorReceiver({ dir: process.argv[2] ?? '', metaDir: process.argv[3] ?? '', host: '127.0.0.1', port: Number(process.argv[4]) });
await receiver.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  const bytes = receiver.status().bytes;
  void receiver.stop().then(() => {
    process.stdout.write(`bytes ${bytes}\n`);
    process.exit(0);
  });
});
