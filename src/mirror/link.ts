import { connect as netConnect, createServer as netCreateServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsCreateServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { ClusterError } from '../domain/errors.js';
import { peerCertIdentity, type TlsMaterial } from '../security/tls.js';

/**
 * The transport of the mirror link: TLS 1.3 with mutual authentication by the cluster's
 * certificates (security.tls, made by `halo certs`).
 *
 * - The standby (server) requires a client certificate signed by the cluster CA
 *   (`requestCert`, `rejectUnauthorized`): a peer without one, or with one of another CA, fails the
 *   handshake. A certificate of the CA whose role is not `node` (OU=viewer/operator/admin, a
 *   person's or a tool's) is closed right after the handshake. In both cases the connection is
 *   handed to the receiver only after these checks, so not one byte of a frame is read from it.
 * - The active (client) verifies the standby's chain against the cluster CA and requires
 *   O=halo, OU=node and CN = the standby's node name. It does not check the address against the
 *   certificate's subjectAltName: standbys are addressed by the IP in the config, node
 *   certificates need not list it, and the name (CN) identifies the node better than an address
 *   that may move; the CA alone vouches for the binding of name and key.
 */

/** What a listener reports about a connection it refused before reading from it. */
export interface RefusedPeer {
  readonly address: string;
  readonly reason: string;
}

export interface LinkListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMaterial;
  /**
   * Benchmarks only (bench/mirror.ts measures what TLS costs): plain TCP, no authentication, no
   * encryption. No config field, agent or service sets it.
   */
  readonly unencryptedForBenchmark?: boolean;
  /** A connection from an authenticated node; `peer` is its certificate's CN (null: unencrypted benchmark link). */
  readonly onPeer: (sock: Socket, peer: string | null) => void;
  readonly onRefused?: (r: RefusedPeer) => void;
}

/** An unauthenticated connection must finish its handshake within this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export async function listenLink(o: LinkListenOptions): Promise<Server> {
  const srv: Server = o.unencryptedForBenchmark
    ? netCreateServer((sock) => o.onPeer(sock, null))
    : (() => {
        const s = tlsCreateServer(
          { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
          (sock: TLSSocket) => {
            const id = peerCertIdentity(sock);
            if (id === undefined || id.role !== 'node') {
              o.onRefused?.({ address: `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`, reason: id === undefined ? 'certificate without a halo identity' : `certificate of role "${id.role}" (CN=${id.name}), not "node"` });
              sock.destroy();
              return;
            }
            o.onPeer(sock, id.name);
          },
        );
        s.on('tlsClientError', (err: Error, sock: TLSSocket) => {
          o.onRefused?.({ address: `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`, reason: `TLS handshake failed: ${err.message}` });
          sock.destroy();
        });
        return s;
      })();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(o.port, o.host, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  return srv;
}

export interface LinkConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMaterial;
  /** The node name the standby's certificate must carry (CN); any node when undefined. */
  readonly peer?: string;
  /** See LinkListenOptions.unencryptedForBenchmark. */
  readonly unencryptedForBenchmark?: boolean;
  readonly signal: AbortSignal;
}

/** `undefined` when `cert` is a halo node certificate (of `peer` when given); the reason otherwise. */
export function checkNodeCertificate(cert: PeerCertificate, peer: string | undefined): Error | undefined {
  const s = cert.subject;
  if (s.O !== 'halo' || s.OU !== 'node') return new Error(`the mirror peer's certificate is not a halo node certificate (O=${String(s.O)}, OU=${String(s.OU)})`);
  if (peer !== undefined && s.CN !== peer) return new Error(`the mirror peer's certificate names node "${String(s.CN)}", expected "${peer}"`);
  return undefined;
}

/** Opens the link; resolves once the handshake (and the server's verification) succeeded. */
export async function connectLink(o: LinkConnectOptions): Promise<Socket> {
  const where = `${o.host}:${o.port}`;
  return await new Promise<Socket>((resolve, reject) => {
    const s: Socket = o.unencryptedForBenchmark
      ? netConnect({ host: o.host, port: o.port })
      : tlsConnect({
          host: o.host,
          port: o.port,
          ca: o.tls.ca,
          cert: o.tls.cert,
          key: o.tls.key,
          minVersion: 'TLSv1.3',
          rejectUnauthorized: true,
          // Chain verified against the CA by rejectUnauthorized; identity by name, not address (see above).
          checkServerIdentity: (_host, cert) => checkNodeCertificate(cert, o.peer),
        });
    const onAbort = (): void => {
      s.destroy();
      reject(new ClusterError('HA_MIRROR_UNAVAILABLE', `could not connect to mirror peer ${where} in time`));
    };
    if (o.signal.aborted) {
      onAbort();
      return;
    }
    o.signal.addEventListener('abort', onAbort, { once: true });
    s.once(o.unencryptedForBenchmark ? 'connect' : 'secureConnect', () => {
      o.signal.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      o.signal.removeEventListener('abort', onAbort);
      s.destroy();
      reject(new ClusterError('HA_MIRROR_UNAVAILABLE', `could not connect to mirror peer ${where}: ${e.message}`, { cause: e }));
    });
  });
}
