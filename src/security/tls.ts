import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { TlsFiles } from '../domain/config.js';
import { ClusterError } from '../domain/errors.js';
import { substituteNodeVars } from '../domain/node-vars.js';
import { CERT_ROLES, type CertRole } from './certs.js';

/** A node's TLS identity in memory: PEM text of the cluster CA, its certificate and key. */
export interface TlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Reads the PEM files named by `security.tls`. Paths may contain ${HALO_NODE}; relative paths are
 * resolved by `resolvePath` (relative to the config file). A missing or unreadable file is a
 * precise HA_CONFIG_INVALID naming the field.
 */
export function loadTlsMaterial(files: TlsFiles, node: string, resolvePath: (p: string) => string): TlsMaterial {
  const read = (field: keyof TlsFiles): string => {
    const p = resolvePath(substituteNodeVars(files[field], { HALO_NODE: node }));
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new ClusterError('HA_CONFIG_INVALID', `security.tls.${field}: cannot read ${p} (${code}); create the cluster's certificates with "halo certs"`, { cause: e });
    }
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key') };
}

/** Who is at the other end of a mutually authenticated TLS connection. */
export interface PeerCertIdentity {
  readonly name: string;
  readonly role: CertRole;
}

/**
 * The identity in a peer's certificate, if the connection was authenticated by the cluster CA
 * (socket.authorized) and its subject is O=halo with a known OU; otherwise undefined.
 */
export function peerCertIdentity(socket: TLSSocket): PeerCertIdentity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || typeof cert !== 'object' || !('subject' in cert) || !cert.subject) return undefined;
  const s = cert.subject;
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? undefined : v);
  const o = one(s.O);
  const ou = one(s.OU);
  const cn = one(s.CN);
  if (o !== 'halo' || cn === undefined || ou === undefined) return undefined;
  const role = CERT_ROLES.find((r) => r === ou);
  return role === undefined ? undefined : { name: cn, role };
}
