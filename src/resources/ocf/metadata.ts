import { XMLParser } from 'fast-xml-parser';

/** What `halo agents describe` shows of an agent's meta-data. */
export interface OcfParameter {
  readonly name: string;
  readonly required: boolean;
  readonly unique: boolean;
  readonly type: string;
  readonly default: string | null;
  readonly shortdesc: string;
  readonly longdesc: string;
}

export interface OcfActionInfo {
  readonly name: string;
  /** Advertised timeout in ms, or null when absent or unreadable. */
  readonly timeoutMs: number | null;
  readonly intervalMs: number | null;
  readonly role: string | null;
}

export interface OcfMetadata {
  readonly name: string;
  readonly version: string | null;
  readonly shortdesc: string;
  readonly longdesc: string;
  readonly parameters: readonly OcfParameter[];
  readonly actions: readonly OcfActionInfo[];
}

export type MetadataParse = { readonly ok: true; readonly metadata: OcfMetadata } | { readonly ok: false; readonly error: string };

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  // DOCTYPE is skipped; no external entity is ever fetched.
  isArray: (name) => name === 'parameter' || name === 'action',
});

type Node = Record<string, unknown>;
const obj = (v: unknown): Node | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v)) : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** Text of an element that may carry attributes (`{ '#text': ..., '@lang': 'en' }`), or of several (`lang` variants: English first). */
function text(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (Array.isArray(v)) {
    const en = v.find((x) => obj(x)?.['@lang'] === 'en');
    return text(en ?? v[0]);
  }
  const o = obj(v);
  const t = o?.['#text'];
  return typeof t === 'string' ? t.trim() : '';
}

function attr(o: Node | null, name: string): string | null {
  const v = o?.[`@${name}`];
  return typeof v === 'string' ? v : null;
}

const truthy = (s: string | null): boolean => s === '1' || s === 'true' || s === 'yes';

/** OCF durations: `20`, `20s`, `100ms`, `2m`, `1h` (Pacemaker's units), as milliseconds. */
export function parseOcfDuration(s: string | null): number | null {
  if (s === null) return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|m|min|h|hr)?\s*$/i.exec(s);
  if (!m?.[1]) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const f = unit === 'ms' || unit === 'msec' ? 1 : unit === 's' || unit === 'sec' ? 1000 : unit === 'm' || unit === 'min' ? 60_000 : 3_600_000;
  return Math.round(n * f);
}

/** Parses an agent's `meta-data` output (OCF resource-agent XML). Never throws. */
export function parseMetadata(xml: string): MetadataParse {
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (e) {
    return { ok: false, error: `meta-data is not well-formed XML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  const root = obj(obj(doc)?.['resource-agent']);
  if (root === null) return { ok: false, error: 'meta-data has no <resource-agent> element' };
  const parameters: OcfParameter[] = list(obj(root['parameters'])?.['parameter']).flatMap((p): OcfParameter[] => {
    const o = obj(p);
    const name = attr(o, 'name');
    if (o === null || name === null) return [];
    const content = obj(list(o['content'])[0]);
    return [
      {
        name,
        required: truthy(attr(o, 'required')),
        unique: truthy(attr(o, 'unique')),
        type: attr(content, 'type') ?? 'string',
        default: attr(content, 'default'),
        shortdesc: text(o['shortdesc']),
        longdesc: text(o['longdesc']).replace(/\s+/g, ' '),
      },
    ];
  });
  const actions: OcfActionInfo[] = list(obj(root['actions'])?.['action']).flatMap((a): OcfActionInfo[] => {
    const o = obj(a);
    const name = attr(o, 'name');
    if (name === null) return [];
    return [{ name, timeoutMs: parseOcfDuration(attr(o, 'timeout')), intervalMs: parseOcfDuration(attr(o, 'interval')), role: attr(o, 'role') }];
  });
  return {
    ok: true,
    metadata: {
      name: attr(root, 'name') ?? '',
      version: typeof root['version'] === 'string' ? root['version'] : attr(root, 'version'),
      shortdesc: text(root['shortdesc']),
      longdesc: text(root['longdesc']).replace(/\s+/g, ' '),
      parameters,
      actions,
    },
  };
}
