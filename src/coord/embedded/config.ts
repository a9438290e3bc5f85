import type { CoordinatorConfig, SecurityConfig } from '../../domain/config.js';
import { loadTlsMaterial, type TlsMaterial } from '../../security/tls.js';
import type { EmbeddedCoordinatorOptions } from './client.js';
import { defaultSecretFile } from './secret.js';

type EmbeddedConfig = Extract<CoordinatorConfig, { kind: 'embedded' }>;

/**
 * The name `halo coordinator` stands for in `security.tls` paths (${HALO_NODE}): it is not a node,
 * so it uses the certificate issued to the name "coordinator" (role node), e.g. certs/coordinator.crt
 * when the paths are certs/${HALO_NODE}.crt. Paths without ${HALO_NODE} give it the same certificate
 * as the node on its machine.
 */
export const COORDINATOR_CERT_NAME = 'coordinator';

/** Where the embedded coordinator keeps its state and its secret, resolved like every config path. */
export function embeddedFiles(c: EmbeddedConfig, resolvePath: (p: string) => string): { readonly dataDir: string; readonly secretFile: string } {
  return { dataDir: resolvePath(c.dataDir), secretFile: resolvePath(c.secretFile ?? defaultSecretFile(c.dataDir)) };
}

/** The TLS identity of `halo coordinator` when `security.tls` is configured. */
export function coordinatorTls(security: SecurityConfig, resolvePath: (p: string) => string): TlsMaterial | undefined {
  return security.tls === undefined ? undefined : loadTlsMaterial(security.tls, COORDINATOR_CERT_NAME, resolvePath);
}

/**
 * Options of a node's client of the embedded coordinator: the secret file, and with `security.tls`
 * an https:// URL, the cluster CA and the node's own certificate.
 */
export function embeddedClientOptions(
  c: EmbeddedConfig,
  security: SecurityConfig,
  node: string,
  resolvePath: (p: string) => string,
): EmbeddedCoordinatorOptions {
  const secret = { file: embeddedFiles(c, resolvePath).secretFile };
  if (security.tls === undefined) return { url: `http://${c.address}`, secret };
  return { url: `https://${c.address}`, secret, tls: loadTlsMaterial(security.tls, node, resolvePath) };
}
