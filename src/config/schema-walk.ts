import { z } from 'zod';

/**
 * Read-only introspection of the config schema, used only to word error messages well
 * (known field names for "did you mean", number ranges, list element types). Nothing here
 * decides validity: zod does.
 */

type Schema = z.core.$ZodType;

/** Strips wrappers that do not change the shape of the input (default, prefault, optional, pipe input). */
export function unwrapSchema(s: Schema): Schema {
  let cur = s;
  for (let i = 0; i < 32; i++) {
    if (cur instanceof z.core.$ZodDefault || cur instanceof z.core.$ZodPrefault || cur instanceof z.core.$ZodOptional || cur instanceof z.core.$ZodNullable) {
      cur = cur._zod.def.innerType;
    } else if (cur instanceof z.core.$ZodPipe) {
      cur = cur._zod.def.in;
    } else {
      return cur;
    }
  }
  return cur;
}

function childOf(data: unknown, seg: PropertyKey): unknown {
  if (Array.isArray(data) && typeof seg === 'number') return data[seg];
  if (data !== null && typeof data === 'object' && typeof seg === 'string') {
    const v: unknown = Object.getOwnPropertyDescriptor(data, seg)?.value;
    return v;
  }
  return undefined;
}

/** The value at `path` in plain parsed YAML data, or undefined when absent. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const seg of path) {
    cur = childOf(cur, seg);
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** For a discriminated union, the option selected by the data's discriminator, if any. */
function pickOption(s: Schema, data: unknown): Schema | undefined {
  if (!(s instanceof z.core.$ZodDiscriminatedUnion)) return s;
  const disc = s._zod.def.discriminator;
  const tag = childOf(data, disc);
  for (const opt of s._zod.def.options) {
    const o = unwrapSchema(opt);
    if (!(o instanceof z.core.$ZodObject)) continue;
    const field = o._zod.def.shape[disc];
    if (field === undefined) continue;
    const lit = unwrapSchema(field);
    if (lit instanceof z.core.$ZodLiteral && lit._zod.def.values.some((v) => v === tag)) return o;
  }
  return undefined;
}

/** The (unwrapped) schema that validates the value at `path`, following the data through unions. */
export function schemaAt(root: Schema, data: unknown, path: readonly PropertyKey[]): Schema | undefined {
  let s: Schema | undefined = unwrapSchema(root);
  let d = data;
  for (const seg of path) {
    if (s === undefined) return undefined;
    s = pickOption(s, d);
    if (s === undefined) return undefined;
    if (s instanceof z.core.$ZodObject && typeof seg === 'string') {
      const next: Schema | undefined = s._zod.def.shape[seg];
      s = next === undefined ? undefined : unwrapSchema(next);
    } else if (s instanceof z.core.$ZodArray) {
      s = unwrapSchema(s._zod.def.element);
    } else if (s instanceof z.core.$ZodRecord) {
      s = unwrapSchema(s._zod.def.valueType);
    } else {
      return undefined;
    }
    d = childOf(d, seg);
  }
  return s === undefined ? undefined : pickOption(s, d) ?? s;
}

/** Field names an object schema accepts (empty when not an object). */
export function knownKeys(s: Schema | undefined): string[] {
  if (s instanceof z.core.$ZodObject) return Object.keys(s._zod.def.shape);
  return [];
}

export type NumberRange = { readonly min: number | undefined; readonly max: number | undefined; readonly int: boolean };

/** Declared bounds of a number schema, if it is one. */
export function numberRange(s: Schema | undefined): NumberRange | undefined {
  if (!(s instanceof z.ZodNumber)) return undefined;
  const lim = (v: number | null): number | undefined => (v !== null && Number.isFinite(v) && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
  return { min: lim(s.minValue), max: lim(s.maxValue), int: s.isInt };
}

/** A short noun phrase for what a schema accepts: "a list of strings", "a mapping", ... */
export function describeSchema(s: Schema | undefined): string | undefined {
  if (s === undefined) return undefined;
  if (s instanceof z.core.$ZodNumber) {
    const r = numberRange(s);
    const kind = r?.int === true ? 'integer' : 'any number';
    if (r?.min !== undefined && r.max !== undefined) return `a number (${kind}, ${r.min} to ${r.max})`;
    if (r?.min !== undefined) return `a number (${kind}, at least ${r.min})`;
    if (r?.max !== undefined) return `a number (${kind}, at most ${r.max})`;
    return r?.int === true ? 'a number (integer)' : 'a number';
  }
  if (s instanceof z.core.$ZodString) return 'a string';
  if (s instanceof z.core.$ZodBoolean) return 'true or false';
  if (s instanceof z.core.$ZodArray) {
    const el = describeSchema(unwrapSchema(s._zod.def.element));
    if (el === 'a string') return 'a list of strings';
    if (el === 'a mapping') return 'a list of mappings';
    return 'a list';
  }
  if (s instanceof z.core.$ZodRecord) return 'a mapping';
  if (s instanceof z.core.$ZodObject || s instanceof z.core.$ZodDiscriminatedUnion) return 'a mapping';
  return undefined;
}
