import type { Agent } from 'undici';

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
  // undici is loaded at the first request, not with this module: a CLI command or an agent that
  // never calls over HTTPS does not pay for it (about 20 MB and 0.2 s at start).
  let client: Promise<{ readonly dispatcher: Agent; readonly fetch: typeof import('undici').fetch }> | null = null;
  const load = async () => {
    const undici = await import('undici');
    const dispatcher = new undici.Agent({
      connect: {
        ca: tls.ca,
        ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
        rejectUnauthorized: true,
      },
    });
    return { dispatcher, fetch: undici.fetch };
  };
  const f = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
    client ??= load();
    const { dispatcher, fetch: undiciFetch } = await client;
    // undici's own fetch and the global one share the WHATWG types at run time; only their
    // TypeScript declarations differ.
    return (await undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as Response;
  };
  return f as typeof fetch;
}
