/** Options of `halo demo`. */
export interface RunDemoOptions {
  /** Where the demo keeps its state; default .halo/demo */
  readonly dir?: string;
}

/** Starts the embedded coordinator, three agents and the sample service; Ctrl-C stops everything. */
export async function runDemo(opts: RunDemoOptions): Promise<void> {
  void opts;
  throw new Error('not yet implemented');
}
