import { readFile } from 'node:fs/promises';
import { isAlias, isCollection, isMap, isNode, isScalar, isSeq, Lexer, LineCounter, Parser, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { HaloConfigSchema, type HaloConfig } from '../domain/config.js';
import { assertNever, ClusterError } from '../domain/errors.js';
import { describeSchema, knownKeys, schemaAt, valueAt } from './schema-walk.js';

/**
 * One problem found in a configuration file, positioned in the file the operator wrote.
 *
 * - `line`/`column` are 1-based; `line` 0 means the problem concerns the file as a whole
 *   (missing, unreadable).
 * - `path` names the field (`groups[0].resources[1].monitors[0].port`); `(root)` is the document itself.
 * - `value` is the offending value as short JSON (at most 60 characters) or `(missing)`.
 * - `message` says what was expected.
 */
export type ConfigIssue = {
  file: string;
  line: number;
  column: number;
  path: string;
  value: string;
  message: string;
};

/** Outcome of parsing a configuration. `source` is the text exactly as read. */
export type ParseResult = { ok: true; config: HaloConfig; source: string } | { ok: false; issues: ConfigIssue[] };

export const MISSING = '(missing)';
export const ROOT_PATH = '(root)';
const VALUE_MAX = 60;

/**
 * Deepest nesting of mappings and lists accepted in a configuration (halo.yaml needs about 6).
 * Checked on the token stream before the document is built, so a deeply nested file costs
 * linear time and no stack, whatever its size.
 */
export const MAX_YAML_DEPTH = 64;

/**
 * Most alias expansions (`*name`) in one configuration, weighted as the `yaml` library's
 * `maxAliasCount` weighs them (an alias of a collection that itself holds aliases counts for
 * all of them): exponential "billion laughs" expansion is refused long before it costs anything.
 */
export const MAX_YAML_ALIASES = 100;

type Path = readonly PropertyKey[];
type AnyDoc = Document.Parsed;

/** Renders a path the way it reads in the YAML: `groups[0].resources[1].env["MY-VAR"]`. */
export function formatPath(path: Path): string {
  if (path.length === 0) return ROOT_PATH;
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      continue;
    }
    const key = String(seg);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

/** Short JSON rendering of a value for messages; `(missing)` for undefined. */
export function renderValue(v: unknown): string {
  if (v === undefined) return MISSING;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > VALUE_MAX ? `${s.slice(0, VALUE_MAX - 3)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// Positions in the YAML document

function startOf(n: unknown): number | undefined {
  return isNode(n) && n.range ? n.range[0] : undefined;
}

function keyName(k: unknown): string {
  if (isScalar(k)) return String(k.value);
  return String(k);
}

/** A value node that only exists because the key had nothing after it (`port:`). */
function isEmptyValue(n: unknown): boolean {
  return isScalar(n) && n.value === null && n.range !== undefined && n.range !== null && n.range[0] === n.range[1];
}

/**
 * Offset of the node at `path`. `target: 'key'` asks for the key of the last segment (unknown
 * fields, invalid record keys). When the path does not exist (a missing field), the offset of the
 * deepest existing node, i.e. the mapping that should have held it.
 */
function locate(doc: AnyDoc, path: Path, target: 'value' | 'key'): number {
  let node: unknown = doc.contents;
  let at = startOf(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyName(p.key) === String(seg));
      if (pair === undefined) return at;
      const keyAt = startOf(pair.key) ?? at;
      if (last && target === 'key') return keyAt;
      if (pair.value === null || isEmptyValue(pair.value)) return keyAt;
      node = pair.value;
      at = startOf(node) ?? keyAt;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return at;
      node = item;
      at = startOf(node) ?? at;
    } else {
      return at;
    }
  }
  return at;
}

/** The path of the innermost key or value containing `offset` (to name the field a YAML error is in). */
function pathAtOffset(node: unknown, offset: number, path: PropertyKey[] = []): PropertyKey[] {
  const within = (n: unknown): boolean => isNode(n) && !!n.range && offset >= n.range[0] && offset < n.range[2];
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = keyName(pair.key);
      if (within(pair.key)) return [...path, k];
      if (within(pair.value)) return pathAtOffset(pair.value, offset, [...path, k]);
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const item: unknown = node.items[i];
      if (within(item)) return pathAtOffset(item, offset, [...path, i]);
    }
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Messages

const TYPE_NOUNS: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function typeOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const left = prev[j - 1] ?? 0;
      prev[j] = Math.min(up + 1, left + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The closest of `known` to `key` when it is close enough to be a likely typo. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(1, Math.floor(key.length / 4)) + 1 ? best : undefined;
}

function expectedOf(path: Path, data: unknown, fallback: string): string {
  const s = schemaAt(HaloConfigSchema, data, path);
  const d = describeSchema(s);
  if (d === undefined) return fallback;
  const last = path[path.length - 1];
  if (typeof last === 'string' && last.endsWith('Ms') && d.startsWith('a number (integer')) return d.replace('(integer', '(integer milliseconds');
  return d;
}

function listOf(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function looksNumeric(v: unknown): boolean {
  return typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v);
}

type Draft = { path: Path; offset: number; value: string; message: string };

function draftsFor(issue: z.core.$ZodIssue, doc: AnyDoc, data: unknown): Draft[] {
  const path: Path = issue.path;
  const v = valueAt(data, path);
  const here = (message: string): Draft[] => [{ path, offset: locate(doc, path, 'value'), value: renderValue(v), message }];
  const required = v === undefined ? 'required field missing: ' : '';
  // Numbers: 'a number (integer, 1 to 65535)'; for durations the unit is named too.
  switch (issue.code) {
    case 'invalid_type': {
      const expected = expectedOf(path, data, TYPE_NOUNS[issue.expected] ?? issue.expected);
      const hint = (issue.expected === 'number' || issue.expected === 'int') && looksNumeric(v) ? ' (write it without quotes)' : '';
      const got = v === undefined ? '' : `, not ${typeOfValue(v)}`;
      return here(`${required}expected ${expected}${got}${hint}`);
    }
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = small ? issue.minimum : issue.maximum;
      const strict = issue.inclusive === false;
      switch (issue.origin) {
        case 'number':
        case 'int':
          return here(`expected ${expectedOf(path, data, `a number ${small ? (strict ? '>' : '>=') : strict ? '<' : '<='} ${bound}`)}`);
        case 'array':
          return here(small ? `expected a list with at least ${bound} ${bound === 1 ? 'entry' : 'entries'}` : `expected a list with at most ${bound} entries`);
        case 'string':
          return here(small ? (bound === 1 ? 'expected a non-empty string' : `expected at least ${bound} characters`) : `expected at most ${bound} characters`);
        default:
          return here(`expected ${small ? 'at least' : 'at most'} ${bound}`);
      }
    }
    case 'invalid_format': {
      if (issue.format === 'url') return here('expected an http:// or https:// URL, e.g. http://127.0.0.1:8080/health');
      if (issue.message.startsWith('expected')) return here(issue.message);
      if (issue.format === 'regex' && issue.pattern !== undefined) return here(`expected a string matching ${issue.pattern}`);
      return here(`expected the ${issue.format} format`);
    }
    case 'not_multiple_of':
      return here(`expected a multiple of ${issue.divisor}`);
    case 'unrecognized_keys': {
      const known = knownKeys(schemaAt(HaloConfigSchema, data, path));
      return issue.keys.map((key) => {
        const keyPath = [...path, key];
        const hint = suggest(key, known);
        const expected = hint !== undefined ? `; did you mean "${hint}"?` : known.length > 0 ? `; expected one of: ${known.join(', ')}` : '';
        return { path: keyPath, offset: locate(doc, keyPath, 'key'), value: renderValue(valueAt(data, keyPath)), message: `unknown field "${key}"${expected}` };
      });
    }
    case 'invalid_union': {
      const disc = issue.discriminator;
      if (disc !== undefined && 'options' in issue && issue.options !== undefined) {
        const what = v === undefined ? `required field "${disc}" missing` : `unknown ${disc} ${renderValue(v)}`;
        return here(`${what}: expected one of: ${listOf(issue.options)}`);
      }
      return here(issue.message);
    }
    case 'invalid_key': {
      const inner = issue.issues.find((i) => i.message.startsWith('expected'))?.message ?? 'invalid key';
      const key = path[path.length - 1];
      return [{ path, offset: locate(doc, path, 'key'), value: renderValue(key === undefined ? undefined : String(key)), message: `invalid key: ${inner}` }];
    }
    case 'invalid_value':
      return here(`${required}expected one of: ${listOf(issue.values)}`);
    case 'invalid_element':
    case 'custom':
      return here(issue.message);
    default:
      return assertNever(issue);
  }
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => a.issue.line - b.issue.line || a.issue.column - b.issue.column || a.i - b.i)
    .map((x) => x.issue);
}

function yamlMessage(code: string, message: string, path: Path): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return `duplicate key "${String(path[path.length - 1] ?? '')}": expected each key at most once in a mapping`;
    case 'MULTIPLE_DOCS':
      return 'more than one YAML document ("---"): expected a single document';
    case 'TAB_AS_INDENT':
      return 'tab used for indentation: expected spaces';
    default:
      return `YAML syntax error: ${message.split('\n')[0] ?? message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/**
 * Offset of the first mapping or list nested more than MAX_YAML_DEPTH levels deep, or undefined.
 * Runs the `yaml` lexer and CST parser (both iterative) token by token and stops at the first
 * collection past the limit, before anything recursive (composing, toJS, validation) sees the text.
 */
function tooDeepAt(text: string): number | undefined {
  const parser = new Parser();
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) void token;
    let depth = 0;
    for (const t of parser.stack) {
      if (t.type !== 'block-map' && t.type !== 'block-seq' && t.type !== 'flow-collection') continue;
      if (++depth > MAX_YAML_DEPTH) return t.offset;
    }
  }
  return undefined;
}

/**
 * Keys that are mappings or lists (`? [a, b]`, `{[a]: 1}`, or an alias of one). JSON objects
 * cannot hold them: the `yaml` library would turn them into strings such as "[ a, b ]" with a
 * process warning, so they are refused with their position instead.
 */
function collectionKeys(doc: AnyDoc, text: string): { offset: number; path: Path; text: string }[] {
  const found: { offset: number; path: Path; text: string }[] = [];
  visit(doc, {
    Pair(_, pair) {
      const key: unknown = pair.key;
      const target = isAlias(key) ? key.resolve(doc) : key;
      if (!isCollection(target) || !isNode(key) || !key.range) return;
      const offset = key.range[0];
      // pathAtOffset ends with the key itself; the path named is the mapping that holds it.
      found.push({ offset, path: pathAtOffset(doc.contents, offset).slice(0, -1), text: text.slice(offset, key.range[1]) });
    },
  });
  return found;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Parses and validates the text of a halo.yaml. Never throws for bad input: every problem is
 * returned as an issue, positioned in the text, ordered by line. YAML-level errors (syntax,
 * duplicate keys) are reported alone, since the structure cannot be trusted. Cross-field rules
 * (duplicate names, unknown node references, timing rules) are checked once the structure is valid.
 */
export function parseConfigText(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const at = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const deepAt = tooDeepAt(text);
  if (deepAt !== undefined) {
    // The document is not parsed, so the line starts up to the issue are counted here.
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < deepAt; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
    return {
      ok: false,
      issues: [{ file, ...at(deepAt), path: ROOT_PATH, value: MISSING, message: `nested more than ${MAX_YAML_DEPTH} levels deep: expected at most ${MAX_YAML_DEPTH} levels of mappings and lists` }],
    };
  }
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ConfigIssue => {
      const offset = e.pos[0];
      const path = pathAtOffset(doc.contents, offset);
      const snippet = text.slice(offset, e.pos[1] > offset ? Math.max(e.pos[1], offset + 1) : offset + 1).split('\n')[0] ?? '';
      const value = e.code === 'DUPLICATE_KEY' ? renderValue(String(path[path.length - 1] ?? snippet)) : renderValue(snippet === '' ? undefined : snippet);
      return { file, ...at(offset), path: formatPath(path), value, message: yamlMessage(e.code, e.message, path) };
    });
    return { ok: false, issues: sortIssues(issues) };
  }

  if (doc.contents === null) {
    return {
      ok: false,
      issues: [{ file, line: 1, column: 1, path: ROOT_PATH, value: MISSING, message: 'the file is empty: expected a mapping with at least "cluster" and "nodes"' }],
    };
  }

  const keyIssues = collectionKeys(doc, text).map((k): ConfigIssue => ({
    file,
    ...at(k.offset),
    path: formatPath(k.path),
    value: renderValue(k.text),
    message: 'a mapping or list used as a key: expected a plain name (a string) as every key',
  }));
  if (keyIssues.length > 0) return { ok: false, issues: sortIssues(keyIssues) };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const aliases = /alias count/i.test(message);
    return {
      ok: false,
      issues: [
        {
          file,
          line: 1,
          column: 1,
          path: ROOT_PATH,
          value: MISSING,
          message: aliases
            ? `aliases (*name) expand to more than ${MAX_YAML_ALIASES} copies: expected at most ${MAX_YAML_ALIASES} (an alias of a collection counts once for every alias inside it)`
            : `cannot read the YAML document: ${message}`,
        },
      ],
    };
  }

  const result = HaloConfigSchema.safeParse(data);
  if (result.success) return { ok: true, config: result.data, source: text };
  const issues = result.error.issues.flatMap((issue) =>
    draftsFor(issue, doc, data).map((d): ConfigIssue => ({ file, ...at(d.offset), path: formatPath(d.path), value: d.value, message: d.message })),
  );
  return { ok: false, issues: sortIssues(issues) };
}

function readFailure(e: unknown): string {
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  switch (code) {
    case 'ENOENT':
      return 'file not found: expected a halo configuration file (YAML) at this path';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: expected a file readable by this user';
    case 'EISDIR':
      return 'is a directory: expected a halo configuration file (YAML)';
    default:
      return `cannot read file: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Reads and parses a configuration file. A missing or unreadable file is an issue (line 0), not an
 * exception; an aborted read rejects with the abort reason.
 */
export async function loadConfigFile(file: string, opts: { signal?: AbortSignal } = {}): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(file, opts.signal === undefined ? { encoding: 'utf8' } : { encoding: 'utf8', signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted === true) throw opts.signal.reason;
    return { ok: false, issues: [{ file, line: 0, column: 0, path: ROOT_PATH, value: MISSING, message: readFailure(e) }] };
  }
  return parseConfigText(text, file);
}

/**
 * One line per issue, compiler style:
 * `halo.yaml:12:7: groups[0].resources[0].port: got "80x": expected a number ...`.
 * Issues about the whole file (line 0) print as `halo.yaml: <message>`.
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      if (i.line === 0) return `${i.file}: ${i.message}`;
      const got = i.value === MISSING ? '' : `got ${i.value}: `;
      return `${i.file}:${i.line}:${i.column}: ${i.path}: ${got}${i.message}`;
    })
    .join('\n');
}

/** The error to throw at a boundary that cannot return issues (e.g. process start-up). */
export function configInvalidError(issues: readonly ConfigIssue[]): ClusterError {
  const n = issues.length;
  const first = issues[0];
  const file = first === undefined ? 'configuration' : first.file;
  return new ClusterError('HA_CONFIG_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'} in the configuration`, {
    details: formatIssues(issues).split('\n'),
  });
}

/**
 * JSON Schema (draft 2020-12) of halo.yaml as written by a person (input side: fields with
 * defaults are optional), for editor completion and validation. Cross-field rules (unique
 * names, timing relations) are not expressible there and are only checked by halo itself.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(HaloConfigSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return {
    ...schema,
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'halo configuration (halo.yaml)',
    description: 'Cluster, nodes, timing and resource groups managed by halo. Durations are integers in milliseconds.',
  };
}
