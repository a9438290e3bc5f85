import type { GateState } from './gate.js';

/** What one endpoint on this node is doing, for status and tests. */
export interface EndpointStatus {
  readonly group: string;
  readonly name: string;
  readonly mode: 'tcp' | 'http';
  readonly listen: string;
  /** host:port of the backend new connections go to, or null while held. */
  readonly backend: string | null;
  /** Why new connections are held (null when open). */
  readonly heldReason: string | null;
  readonly draining: boolean;
  /** Connections (tcp) or requests (http) waiting for a backend. */
  readonly held: number;
  /** Connections (tcp) or requests (http) currently forwarded to a backend. */
  readonly inFlight: number;
  /** Totals since the endpoint started. */
  readonly forwarded: number;
  readonly retried: number;
  readonly refused: number;
}

/** One listening endpoint (tcp or http). */
export interface Endpoint {
  readonly listen: string;
  start(): Promise<void>;
  /** Where new connections go from now on. */
  follow(state: GateState): void;
  /** Nothing is in flight to a backend (held ones do not count). */
  readonly idle: boolean;
  /** Called whenever `idle` may have become true. */
  onIdle(fn: () => void): void;
  status(): EndpointStatus;
  /** Stop listening and cut every connection. */
  close(): Promise<void>;
}
