/**
 * Placeholders a resource or monitor config may contain, filled in per node:
 * `${HALO_NODE_ADDRESS}` (the node's address) and `${HALO_NODE}` (its name).
 */
export const NODE_VARS = ['HALO_NODE_ADDRESS', 'HALO_NODE'] as const;

/**
 * Replaces each `${NAME}` for NAME in NODE_VARS that `vars` defines. Anything else, including
 * placeholders with no value, is left as written so a mistake stays visible.
 */
export function substituteVars(text: string, vars: Readonly<Record<string, string>> | undefined): string {
  if (vars === undefined) return text;
  return text.replace(/\$\{(HALO_NODE_ADDRESS|HALO_NODE)\}/g, (whole: string, name: string) => vars[name] ?? whole);
}
