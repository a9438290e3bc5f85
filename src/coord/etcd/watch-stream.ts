import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';

/** What one open etcd watch stream reports, in arrival order. */
export type WatchItem =
  | { readonly kind: 'response'; readonly response: IWatchResponse }
  /** The stream failed or ended: the caller may open a new one from where it got to. */
  | { readonly kind: 'broken'; readonly error: unknown }
  /** The caller's signal aborted, or the coordinator closed. */
  | { readonly kind: 'stopped' };

/**
 * One etcd Watch stream with one watcher on it, turned into a pull queue: `next()` waits for the
 * next item. Opening never throws (a failure to open is a `broken` item), and `close()` always
 * releases the stream.
 *
 * The stream is half-closed before it is cancelled: etcd3 marks the member failed (and resets its
 * connections) when a still-writable stream errors, and a cancel of ours is no member failure.
 */
export class WatchStream {
  private readonly queue: WatchItem[] = [];
  private waiter: ((item: WatchItem) => void) | undefined;
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private finished = false;
  private readonly onStop = (): void => this.push({ kind: 'stopped' });
  private readonly onLost = (): void => this.push({ kind: 'broken', error: this.lost?.reason });

  /** `lost`: aborts when the member under the stream is found unusable; the stream is then `broken`. */
  constructor(
    open: () => Promise<IDuplexStream<IWatchRequest, IWatchResponse>>,
    request: IWatchRequest,
    private readonly stops: readonly AbortSignal[],
    private readonly lost?: AbortSignal,
  ) {
    for (const s of stops) s.addEventListener('abort', this.onStop, { once: true });
    lost?.addEventListener('abort', this.onLost, { once: true });
    if (stops.some((s) => s.aborted)) {
      this.push({ kind: 'stopped' });
      return;
    }
    open().then(
      (stream) => {
        if (this.finished) {
          release(stream);
          return;
        }
        this.stream = stream;
        stream.on('data', (response) => this.push({ kind: 'response', response }));
        stream.on('error', (error) => this.push({ kind: 'broken', error }));
        stream.on('end', () => this.push({ kind: 'broken', error: new Error('etcd ended the watch stream') }));
        stream.write(request);
      },
      (error: unknown) => this.push({ kind: 'broken', error }),
    );
  }

  next(): Promise<WatchItem> {
    const item = this.queue.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    for (const s of this.stops) s.removeEventListener('abort', this.onStop);
    this.lost?.removeEventListener('abort', this.onLost);
    this.waiter = undefined;
    this.queue.length = 0;
    if (this.stream) release(this.stream);
    this.stream = undefined;
  }

  private push(item: WatchItem): void {
    if (this.finished) return;
    // A stop outranks whatever is queued: the consumer must not see more after its abort.
    if (item.kind === 'stopped') this.queue.length = 0;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(item);
    } else {
      this.queue.push(item);
    }
  }
}

function release(stream: IDuplexStream<IWatchRequest, IWatchResponse>): void {
  // Errors after a cancel are expected (CANCELLED); keep a listener so they are not unhandled.
  stream.on('error', () => undefined);
  stream.end();
  stream.cancel();
}
