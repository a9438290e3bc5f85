import { runCli } from '../cli/program.js';

/**
 * The `halo` executable (bin/halo.js loads the compiled form of this file). The first Ctrl-C
 * aborts client commands (waits, `events --follow`) cleanly; daemons install their own handlers.
 */
const ac = new AbortController();
process.once('SIGINT', () => ac.abort(new Error('interrupted')));
process.exitCode = await runCli(process.argv.slice(2), { signal: ac.signal });
