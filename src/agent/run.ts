/** Options of `halo agent`. */
export interface RunAgentOptions {
  readonly configFile: string;
  readonly node: string;
  /** Run without a separate coordinator process (memory backend in-process; for a one-node trial). */
  readonly standalone?: boolean;
}

/** Runs one node's agent until SIGINT/SIGTERM. Exits the process with a clear message on bad input. */
export async function runAgent(opts: RunAgentOptions): Promise<void> {
  void opts;
  throw new Error('not yet implemented');
}
