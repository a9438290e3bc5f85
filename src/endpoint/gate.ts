/** Where an endpoint's new connections go right now. */
export type Backend = { readonly host: string; readonly port: number; readonly key: string };

export type GateState =
  | { readonly kind: 'open'; readonly backend: Backend }
  /** Held: no instance ready (unplanned) or a planned move draining. */
  | { readonly kind: 'held'; readonly reason: string; readonly draining: boolean };

/**
 * Admission for one endpoint: new connections/requests either get the current backend at once or
 * wait until one is set (or their deadline passes). Waiters are released in arrival order when
 * the gate opens.
 */
/** The part of an endpoint's status its gate decides: where it forwards, or why it holds. */
export function gateStatus(state: GateState): { backend: string | null; heldReason: string | null; draining: boolean } {
  return {
    backend: state.kind === 'open' ? `${state.backend.host}:${state.backend.port}` : null,
    heldReason: state.kind === 'open' ? null : state.reason,
    draining: state.kind === 'held' && state.draining,
  };
}

export class Gate {
  private st: GateState = { kind: 'held', reason: 'starting', draining: false };
  private readonly waiters = new Set<() => void>();

  get state(): GateState {
    return this.st;
  }

  /** Number of connections/requests waiting for a backend. */
  get waiting(): number {
    return this.waiters.size;
  }

  set(next: GateState): void {
    this.st = next;
    if (next.kind === 'open') {
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w();
    }
  }

  /**
   * The current backend, waiting while held until `deadline` (a Date.now() instant) or `signal`
   * aborts. Resolves null when none became available in time.
   */
  async acquire(deadline: number, signal: AbortSignal): Promise<Backend | null> {
    for (;;) {
      const s = this.st;
      if (s.kind === 'open') return s.backend;
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return null;
      await new Promise<void>((resolve) => {
        let wake: () => void = () => undefined;
        const timer = setTimeout(() => wake(), left);
        const onAbort = () => wake();
        wake = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.waiters.delete(wake);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiters.add(wake);
      });
    }
  }
}

/** Sleep that ends early (without throwing) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
