/**
 * The only placeholders halo expands, per node, by the agent that runs them: in a process
 * resource's `command`, `args` and `env` values, a vip's `interface`, an ocf resource's `params`,
 * a mirror's `path`, and in monitor `url`/`host`/`command`/`args`/`path`:
 *
 * - `${HALO_NODE_ADDRESS}`: the node's configured `address`
 * - `${HALO_NODE}`: the node's name
 *
 * Anything else in `${...}`, and a placeholder with no value, is left as written (no environment
 * lookup), so a mistake stays visible.
 */
export const NODE_VARS = ['HALO_NODE_ADDRESS', 'HALO_NODE'] as const;

export type NodeVars = { readonly HALO_NODE_ADDRESS: string; readonly HALO_NODE: string };

export function substituteNodeVars(text: string, vars: Readonly<Record<string, string>> | undefined): string {
  if (vars === undefined) return text;
  return text.replace(/\$\{(HALO_NODE_ADDRESS|HALO_NODE)\}/g, (whole: string, name: string) => vars[name] ?? whole);
}
