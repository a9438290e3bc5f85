import { runCli } from '../cli/program.js';

/**
 * The `halo` executable (bin/halo.js loads the compiled form of this file). The first Ctrl-C
 * aborts client commands (waits, `events --follow`) cleanly; daemons install their own handlers.
 */

/** How long a failed command may take to wind down after its error is out. */
const FAILED_EXIT_GRACE_MS = 500;

const ac = new AbortController();
process.once('SIGINT', () => ac.abort(new Error('interrupted')));
const code = await runCli(process.argv.slice(2), { signal: ac.signal });
process.exitCode = code;
if (code !== 0) {
  // A failed command has nothing left to do, and what halo opened is closed by now. A connection a
  // library opened and never closes (etcd3 authenticates on a gRPC client of its own) must not
  // keep the process alive after the error: e.g. an agent with a wrong etcd password.
  setTimeout(() => process.exit(code), FAILED_EXIT_GRACE_MS).unref();
}
