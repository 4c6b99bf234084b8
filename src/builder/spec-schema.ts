import { isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';

/** A problem found in a spec, with its place in the file. */
export interface SpecProblem {
  line: number;
  col: number;
  message: string;
}

/** What a key's value must be. */
export type FieldType =
  | { kind: 'string'; values?: readonly string[]; required?: boolean }
  | { kind: 'strings' } // a string or a list of strings
  | { kind: 'list' } // a list of strings
  | { kind: 'bool' }
  | { kind: 'labels' } // a mapping of strings to strings
  | { kind: 'any' } // any YAML value (Ansible vars)
  | { kind: 'object'; fields: Schema; required?: boolean }
  | { kind: 'objects'; fields: Schema };

/** The keys a mapping may hold. */
export type Schema = Readonly<Record<string, FieldType>>;

const str = (values?: readonly string[], required = false): FieldType => ({ kind: 'string', ...(values ? { values } : {}), required });

/** Values `log_level` takes (Python logging names, as the original tool). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'WARN', 'ERROR', 'CRITICAL'] as const;
/** Values a command's `loglevel` takes (seed 004). */
export const CMD_LOG_LEVELS = ['ERROR', 'WARN', 'INFO'] as const;
/** Package managers: seed 004's dnf and zypper, and Kiln's apt. */
export const PKG_MANAGERS = ['apt', 'dnf', 'zypper'] as const;

/** `options:` keys: seed 004 (base and Ansible layers) plus Kiln's `platform` and `releasever`. */
export const OPTIONS_SCHEMA: Schema = {
  layer_type: str(['base', 'ansible']),
  log_level: str(LOG_LEVELS),
  name: str(undefined, true),
  publish_tags: { kind: 'strings' },
  pkg_manager: str(PKG_MANAGERS),
  parent: str(),
  publish_local: { kind: 'bool' },
  publish_registry: str(),
  publish_s3: str(),
  registry_opts_pull: { kind: 'strings' },
  registry_opts_push: { kind: 'strings' },
  s3_prefix: str(),
  s3_bucket: str(),
  proxy: str(),
  groups: { kind: 'strings' },
  playbooks: { kind: 'strings' },
  inventory: str(),
  vars: { kind: 'any' },
  platform: str(),
  releasever: str(),
};

/** Top-level keys: seed 004 plus Kiln's `labels:` and `apt:`. */
export const SPEC_SCHEMA: Schema = {
  options: { kind: 'object', fields: OPTIONS_SCHEMA, required: true },
  repos: { kind: 'objects', fields: { alias: str(undefined, true), url: str(undefined, true), gpg: str() } },
  package_groups: { kind: 'list' },
  packages: { kind: 'list' },
  remove_packages: { kind: 'list' },
  copyfiles: { kind: 'objects', fields: { src: str(undefined, true), dst: str(), dest: str() } },
  cmds: { kind: 'objects', fields: { cmd: str(undefined, true), loglevel: str(CMD_LOG_LEVELS) } },
  labels: { kind: 'labels' },
  apt: { kind: 'object', fields: { suite: str(), mirror: str(), variant: str(['extract', 'custom', 'essential', 'apt', 'required', 'minbase', 'buildd', 'important', 'debootstrap', 'standard']) } },
};

/** Edit distance between two strings (Levenshtein). */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const [w, k] = [word.toLowerCase(), c.toLowerCase()];
    // A longer spelling of a key ("gpgkey" for "gpg") counts as close.
    const d = w.startsWith(k) || k.startsWith(w) ? 1 : levenshtein(w, k);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Reads YAML nodes against a schema, collecting problems and the position of every value. */
export interface SchemaReader {
  problems: SpecProblem[];
  /** Position of each value by path (`options.parent`, `copyfiles[0].src`). */
  positions: Map<string, { line: number; col: number }>;
  read(node: Node | null, schema: Schema, path: string, anchor: number): Record<string, unknown>;
  fail(offset: number, message: string): void;
}

const offsetOf = (node: unknown, fallback: number): number => (node as Node | null)?.range?.[0] ?? fallback;

/** Creates a reader reporting positions through `lines`. */
export function createSchemaReader(lines: LineCounter): SchemaReader {
  const problems: SpecProblem[] = [];
  const positions = new Map<string, { line: number; col: number }>();
  const fail = (offset: number, message: string): void => {
    const { line, col } = lines.linePos(offset);
    problems.push({ line, col, message });
  };
  const mark = (path: string, offset: number): void => {
    positions.set(path, lines.linePos(offset));
  };
  const scalarText = (node: unknown): string | undefined => {
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'string') return node.value;
    // Unquoted 9.5 is a float to YAML; a tag or version means the text as written.
    if (typeof node.value === 'number') return node.source ?? String(node.value);
    return undefined;
  };

  const value = (node: unknown, type: FieldType, path: string, anchor: number): unknown => {
    const at = offsetOf(node, anchor);
    mark(path, at);
    switch (type.kind) {
      case 'string': {
        const text = scalarText(node);
        if (text === undefined) return void fail(at, `${path} must be a string`);
        if (type.values && !type.values.includes(text)) {
          const near = closest(text, type.values);
          return void fail(at, `${path}: "${text}" is not one of ${type.values.join(', ')}${near ? `; did you mean "${near}"?` : ''}`);
        }
        return text;
      }
      case 'bool':
        if (!isScalar(node) || typeof node.value !== 'boolean') return void fail(at, `${path} must be true or false`);
        return node.value;
      case 'strings':
      case 'list': {
        if (type.kind === 'strings' && scalarText(node) !== undefined) return [scalarText(node)];
        if (!isSeq(node)) return void fail(at, `${path} must be ${type.kind === 'strings' ? 'a string or ' : ''}a list of strings`);
        const out: string[] = [];
        node.items.forEach((item, i) => {
          const text = scalarText(item);
          mark(`${path}[${i}]`, offsetOf(item, at));
          if (text === undefined) fail(offsetOf(item, at), `${path}[${i}] must be a string`);
          else out.push(text);
        });
        return out;
      }
      case 'labels': {
        if (!isMap(node)) return void fail(at, `${path} must be a mapping of names to strings`);
        const out: Record<string, string> = {};
        for (const pair of node.items) {
          const key = scalarText(pair.key);
          const text = scalarText(pair.value);
          if (key === undefined || text === undefined) fail(offsetOf(pair.value ?? pair.key, at), `${path}: each label must be a string (quote it)`);
          else out[key] = text;
        }
        return out;
      }
      case 'any':
        return (node as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null;
      case 'object':
        if (!isMap(node)) return void fail(at, `${path} must be a mapping`);
        return read(node, type.fields, path, at);
      case 'objects': {
        if (!isSeq(node)) return void fail(at, `${path} must be a list`);
        const out: Record<string, unknown>[] = [];
        node.items.forEach((item, i) => {
          const p = `${path}[${i}]`;
          mark(p, offsetOf(item, at));
          if (!isMap(item)) fail(offsetOf(item, at), `${p} must be a mapping with keys ${Object.keys(type.fields).join(', ')}`);
          else out.push(read(item, type.fields, p, offsetOf(item, at)));
        });
        return out;
      }
    }
  };

  const read = (node: Node | null, schema: Schema, path: string, anchor: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (!isMap(node)) return out;
    const known = Object.keys(schema);
    for (const pair of node.items) {
      const key = scalarText(pair.key) ?? '';
      const keyAt = offsetOf(pair.key, anchor);
      const type = schema[key];
      const where = path ? `${path}.${key}` : key;
      if (!type) {
        const near = closest(key, known);
        fail(keyAt, `unknown key "${key}"${path ? ` in ${path}` : ''}${near ? `; did you mean "${near}"?` : ''}`);
        continue;
      }
      mark(`${where}:key`, keyAt);
      if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) continue; // an empty key is an absent key
      const v = value(pair.value, type, where, keyAt);
      if (v !== undefined) out[key] = v;
    }
    for (const [key, type] of Object.entries(schema)) {
      if ((type.kind === 'string' || type.kind === 'object') && type.required && !(key in out) && !problems.some((p) => p.message.startsWith(path ? `${path}.${key}` : key))) {
        fail(offsetOf(node, anchor), `${path ? `${path}: ` : ''}missing required key "${key}"`);
      }
    }
    return out;
  };

  return { problems, positions, read, fail };
}
