import { Agent, fetch as undiciFetch } from 'undici';

/** TLS settings of an outgoing HTTPS client: the CA that must have signed the server, and optionally a client certificate. */
export interface ClientTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * A `fetch` that verifies HTTPS servers against the cluster CA (not the system's CAs) and
 * presents a client certificate when one is given. Plain http:// URLs work unchanged. Without
 * `tls` it is the global fetch.
 */
export function clusterFetch(tls: ClientTls | undefined): typeof fetch {
  if (tls === undefined) return fetch;
  const dispatcher = new Agent({
    connect: {
      ca: tls.ca,
      ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      rejectUnauthorized: true,
    },
  });
  const f = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> =>
    // undici's own fetch and the global one share the WHATWG types at run time; only their
    // TypeScript declarations differ.
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher }) as unknown as Promise<Response>;
  return f as typeof fetch;
}
