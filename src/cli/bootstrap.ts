import { ClusterError } from '../domain/errors.js';
import { formatIssues, loadConfigFile } from '../config/index.js';
import { makeCoordinatorClient } from '../agent/run.js';
import { createToken, type TokenSpec } from '../security/credentials.js';
import type { TokenView } from '../api/schemas.js';

/**
 * Creates a token straight in the coordinator named by a halo.yaml: how a cluster gets its first
 * admin credential (and how an operator who lost every admin token gets one back). It needs what
 * an agent needs to reach the coordinator, so it grants nothing a coordinator client lacks.
 */
export async function bootstrapToken(configFile: string, spec: Omit<TokenSpec, 'createdBy'>, now: number, opts: { readonly signal?: AbortSignal } = {}): Promise<{ token: string; info: TokenView }> {
  const loaded = await loadConfigFile(configFile, opts);
  if (!loaded.ok) throw new ClusterError('HA_CONFIG_INVALID', `${configFile}: invalid configuration:\n${formatIssues(loaded.issues)}`);
  const coord = await makeCoordinatorClient(loaded.config, configFile, false);
  try {
    const { token, record } = await createToken(coord, loaded.config.cluster, { ...spec, createdBy: 'bootstrap' }, now, opts);
    const { hash: _h, ...info } = record;
    void _h;
    return { token, info };
  } finally {
    await coord.close();
  }
}
