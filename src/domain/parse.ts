/**
 * A stored JSON record parsed with its schema: the value, or undefined when the text is not JSON
 * or does not match (a record from another version, or corrupted). Callers skip such records.
 */
export function parseStored<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, text: string): T | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : undefined;
}
