/**
 * The only placeholders halo expands, and only in a process resource's `command`, `args` and
 * `env` values and in monitor `url`/`host`/`command`/`args`/`path` fields, by the agent of the
 * node that runs them:
 *
 * - `${HALO_NODE_ADDRESS}`: the node's configured `address`
 * - `${HALO_NODE}`: the node's name
 *
 * Anything else in `${...}` is left as written (no environment lookup, no escaping rules), so a
 * value that never mentions these two names passes through unchanged.
 */
export type NodeVars = { readonly HALO_NODE_ADDRESS: string; readonly HALO_NODE: string };

export const NODE_VAR_NAMES = ['HALO_NODE_ADDRESS', 'HALO_NODE'] as const;

export function substituteNodeVars(s: string, vars: NodeVars): string {
  return s.replace(/\$\{(HALO_NODE_ADDRESS|HALO_NODE)\}/g, (_whole, name: string) => (name === 'HALO_NODE' ? vars.HALO_NODE : vars.HALO_NODE_ADDRESS));
}
