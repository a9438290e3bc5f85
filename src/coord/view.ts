import type { Revision } from '../domain/ids.js';
import { isClusterError } from '../domain/errors.js';
import type { Coordinator, KeyValue } from './coordinator.js';

/**
 * A local, watch-maintained copy of the keys under one prefix (an "informer"). Reads are from
 * memory and may be slightly stale: every decision taken from a view must be written with a
 * compare-and-swap on the revisions it relied on.
 */
export class CoordinatorView {
  private readonly items = new Map<string, KeyValue>();
  private rev: Revision | null = null;
  private readonly listeners = new Set<() => void>();
  private synced = false;

  constructor(
    private readonly coord: Coordinator,
    private readonly prefix: string,
    /** Keys under the prefix to leave out (e.g. the event log). */
    private readonly skip: (key: string) => boolean = () => false,
  ) {}

  /** Revision of the store the view reflects. */
  get revision(): number {
    return this.rev ?? 0;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Current entries (do not modify). */
  entries(): ReadonlyMap<string, KeyValue> {
    return this.items;
  }

  /** Called after every applied batch of changes (and after each full re-list). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Full re-read of the prefix. Throws when the coordinator cannot be asked. */
  async resync(signal?: AbortSignal): Promise<void> {
    const { items, revision } = await this.coord.list(this.prefix, signal ? { signal } : {});
    this.items.clear();
    for (const kv of items) if (!this.skip(kv.key)) this.items.set(kv.key, kv);
    this.rev = revision;
    this.synced = true;
    this.emit();
  }

  /**
   * Keep the view current until `signal` aborts: list, then watch from that revision; on any
   * watch failure (compaction, unavailable) mark unsynced, wait `retryMs` and start over.
   */
  async run(signal: AbortSignal, sleep: (ms: number, signal: AbortSignal) => Promise<void>, retryMs = 100): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.resync(signal);
        const from = this.rev;
        if (from === null) continue;
        for await (const batch of this.coord.watch(this.prefix, from, { signal })) {
          let relevant = false;
          for (const ev of batch) {
            if (ev.kind === 'put') {
              this.advance(ev.kv.modRevision);
              if (this.skip(ev.kv.key)) continue;
              this.items.set(ev.kv.key, ev.kv);
            } else {
              this.advance(ev.modRevision);
              if (this.skip(ev.key)) continue;
              this.items.delete(ev.key);
            }
            relevant = true;
          }
          if (relevant) this.emit();
        }
      } catch (e) {
        if (signal.aborted) break;
        if (!isClusterError(e)) throw e;
        this.synced = false;
        this.emit();
      }
      try {
        await sleep(retryMs, signal);
      } catch {
        break;
      }
    }
  }

  private advance(r: Revision): void {
    if (this.rev === null || r > this.rev) this.rev = r;
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
