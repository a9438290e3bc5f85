import { isScalar, parseDocument } from 'yaml';

/** What an inline secret is shown as. */
export const REDACTED = '***';

/** Secrets an operator may write inline in halo.yaml, by path. */
const SECRET_PATHS: readonly (readonly string[])[] = [['coordinator', 'auth', 'password']];

/**
 * The configuration text with every inline secret (coordinator.auth.password) shown as "***", for
 * whatever echoes a configuration (GET /v1/config, `halo config show`). Everything else is kept
 * byte for byte: only the secret's value is replaced in the text. A text that does not parse is
 * redacted line by line (any `password:` value).
 */
export function redactConfigSource(source: string): string {
  const doc = parseDocument(source);
  if (doc.errors.length > 0) return source.replace(/^(\s*password\s*:\s*)(?!\s*$).*$/gm, `$1"${REDACTED}"`);
  const present = SECRET_PATHS.filter((p) => doc.hasIn(p));
  const cuts: { readonly from: number; readonly to: number }[] = [];
  for (const path of present) {
    const node = doc.getIn(path, true);
    if (isScalar(node) && node.range) cuts.push({ from: node.range[0], to: node.range[1] });
  }
  if (cuts.length < present.length) {
    // An alias or another node kind: give up on keeping the text and rewrite the document.
    for (const path of present) doc.setIn(path, REDACTED);
    return doc.toString();
  }
  let out = source;
  for (const c of [...cuts].sort((a, b) => b.from - a.from)) out = `${out.slice(0, c.from)}"${REDACTED}"${out.slice(c.to)}`;
  return out;
}
