import { isAbsolute } from 'node:path';
import { LineCounter, parseDocument, isMap } from 'yaml';
import { parseImageRef, parsePlatform, hostPlatform, type Platform } from '../store/index.ts';
import { isKilnError } from '../core/index.ts';
import { SPEC_SCHEMA, createSchemaReader, type SpecProblem } from './spec-schema.ts';
import { checkLayerRules } from './spec-layers.ts';
import { buildArch } from './foreign.ts';

/** A package repository (`repos:` entry). */
export interface SpecRepo {
  alias: string;
  url: string;
  gpg?: string;
}

/** A file to copy from the host into the image (`copyfiles:` entry; `dest` is read as `dst`). */
export interface SpecCopy {
  src: string;
  dst: string;
}

/** A command to run in the image (`cmds:` entry). */
export interface SpecCmd {
  cmd: string;
  loglevel: 'ERROR' | 'WARN' | 'INFO';
}

/** One validated image-builder layer spec (seed 004 format, with Kiln's extensions). */
export interface BuildSpec {
  /** The spec file, as given; copyfiles sources are relative to its directory. */
  file: string;
  options: {
    layer_type: 'base' | 'ansible';
    log_level: string;
    name: string;
    publish_tags: string[];
    pkg_manager?: 'apt' | 'dnf' | 'zypper';
    parent: string;
    publish_local?: boolean;
    publish_registry?: string;
    publish_s3?: string;
    registry_opts_pull: string[];
    registry_opts_push: string[];
    s3_prefix?: string;
    s3_bucket?: string;
    proxy?: string;
    /** dnf's and zypper's --releasever (Kiln extension). */
    releasever?: string;
    groups: string[];
    playbooks: string[];
    inventory?: string;
    vars?: unknown;
    platform: Platform;
  };
  repos: SpecRepo[];
  package_groups: string[];
  packages: string[];
  remove_packages: string[];
  copyfiles: SpecCopy[];
  cmds: SpecCmd[];
  labels: Record<string, string>;
  apt: { suite: string; mirror: string; variant: string };
  /** Where each value is in the file, by path (`options.parent`, `copyfiles[0].src`). */
  positions: ReadonlyMap<string, { line: number; col: number }>;
  /** The checked real host path of each copyfiles source, by `src` (set by loadSpecs; a build copies only these). */
  copyHosts?: ReadonlyMap<string, string>;
}

/** The outcome of parsing one spec: the spec when there were no problems, and every problem found. */
export interface ParsedSpec {
  spec?: BuildSpec;
  problems: SpecProblem[];
  /** What was read of `copyfiles`, even when there are problems, so missing sources are reported with them. */
  partial?: Pick<BuildSpec, 'file' | 'copyfiles' | 'positions'>;
}

/** Default Debian suite and mirror of `apt:` (Kiln extension). */
export const APT_DEFAULTS = { suite: 'bookworm', mirror: 'http://deb.debian.org/debian', variant: 'minbase' } as const;

/** "file:line:col" of a spec value, for messages about it. */
export function specPosition(spec: Pick<BuildSpec, 'file' | 'positions'>, path: string): string {
  const at = spec.positions.get(path) ?? spec.positions.get(`${path}:key`);
  return at ? `${spec.file}:${at.line}:${at.col}` : spec.file;
}

/** Formats problems as "file:line:col: message" lines. */
export function formatProblems(file: string, problems: readonly SpecProblem[]): string[] {
  return problems.map((p) => `${file}:${p.line}:${p.col}: ${p.message}`);
}

/**
 * Parses and validates a spec's text. Pure: files named by `copyfiles` are checked by
 * the caller (see loadSpecs), the parent image when planning. Every problem is returned.
 */
export function parseSpec(text: string, file: string): ParsedSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const reader = createSchemaReader(lines);
  for (const err of doc.errors) reader.fail(err.pos[0], err.message.split('\n')[0] ?? 'invalid YAML');
  if (doc.errors.length > 0) return { problems: reader.problems };
  if (!isMap(doc.contents)) {
    reader.fail(doc.contents?.range?.[0] ?? 0, 'a spec is a mapping with at least an "options:" key');
    return { problems: reader.problems };
  }
  const raw = reader.read(doc.contents, SPEC_SCHEMA, '', 0);
  const pos = (path: string): number => {
    const at = reader.positions.get(path) ?? reader.positions.get(`${path}:key`);
    return at ? lines.lineStarts[at.line - 1]! + at.col - 1 : 0;
  };
  const o = (raw.options ?? {}) as Record<string, unknown>;
  const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);
  const apt = (raw.apt ?? {}) as Record<string, string>;

  const copyfiles: SpecCopy[] = [];
  ((raw.copyfiles ?? []) as Array<Record<string, string>>).forEach((c, i) => {
    const dst = c.dst ?? c.dest;
    if (c.dst !== undefined && c.dest !== undefined) reader.fail(pos(`copyfiles[${i}].dest`), `copyfiles[${i}] has both "dst" and "dest"; keep one`);
    if (dst === undefined) reader.fail(pos(`copyfiles[${i}]`), `copyfiles[${i}]: missing required key "dst"`);
    else if (!isAbsolute(dst)) reader.fail(pos(`copyfiles[${i}].${c.dst !== undefined ? 'dst' : 'dest'}`), `copyfiles[${i}]: destination "${dst}" must be an absolute path in the image`);
    if (c.src !== undefined && dst !== undefined) copyfiles.push({ src: c.src, dst });
  });

  const name = o.name as string | undefined;
  const tags = o.publish_tags === undefined ? ['latest'] : list(o.publish_tags);
  if (name !== undefined) {
    for (const [i, tag] of tags.entries()) {
      try {
        parseImageRef(`${name}:${tag}`, 'kiln');
      } catch (err) {
        if (!isKilnError(err)) throw err;
        reader.fail(pos(`options.publish_tags[${i}]`) || pos('options.publish_tags') || pos('options.name'), err.message);
      }
    }
  }
  checkLayerRules(raw, o, (path) => reader.positions.has(path) || reader.positions.has(`${path}:key`), (path, message) => reader.fail(pos(path), message));
  const pkg = o.pkg_manager as BuildSpec['options']['pkg_manager'];
  const parent = (o.parent as string | undefined) ?? 'scratch';
  const needsPkg = parent === 'scratch' || ['repos', 'package_groups', 'packages', 'remove_packages'].some((k) => list(raw[k]).length > 0);
  if (needsPkg && !reader.positions.has('options.pkg_manager') && o.layer_type !== 'ansible' && 'options' in raw) {
    reader.fail(pos('options'), 'options: missing "pkg_manager" (needed for a scratch parent or for packages); use "apt", "dnf" or "zypper"');
  }
  let platform = hostPlatform();
  if (typeof o.platform === 'string') {
    try {
      // A foreign platform is built through qemu-user (see foreign.ts); linux/arm means linux/arm/v7.
      platform = buildArch(parsePlatform(o.platform)).platform;
    } catch (err) {
      if (!isKilnError(err)) throw err;
      reader.fail(pos('options.platform'), err.message);
    }
  }
  for (const [i, r] of ((raw.repos ?? []) as SpecRepo[]).entries()) {
    if (!/^[A-Za-z0-9_.-]+$/.test(r.alias ?? '')) reader.fail(pos(`repos[${i}].alias`), `repos[${i}].alias "${r.alias}" may use only letters, digits, ".", "_" and "-"`);
  }
  if (reader.problems.length > 0) {
    return { problems: reader.problems.sort((a, b) => a.line - b.line || a.col - b.col), partial: { file, copyfiles, positions: reader.positions } };
  }

  const spec: BuildSpec = {
    file,
    options: {
      layer_type: (o.layer_type as 'base' | undefined) ?? 'base',
      log_level: (o.log_level as string | undefined) ?? 'INFO',
      name: name as string,
      publish_tags: tags,
      ...(pkg ? { pkg_manager: pkg } : {}),
      parent,
      registry_opts_pull: list(o.registry_opts_pull),
      registry_opts_push: list(o.registry_opts_push),
      groups: list(o.groups),
      playbooks: list(o.playbooks),
      platform,
    },
    repos: (raw.repos ?? []) as SpecRepo[],
    package_groups: list(raw.package_groups),
    packages: list(raw.packages),
    remove_packages: list(raw.remove_packages),
    copyfiles,
    cmds: ((raw.cmds ?? []) as Array<Partial<SpecCmd>>).map((c) => ({ cmd: c.cmd as string, loglevel: c.loglevel ?? 'ERROR' })),
    labels: (raw.labels ?? {}) as Record<string, string>,
    apt: { suite: apt.suite ?? APT_DEFAULTS.suite, mirror: apt.mirror ?? APT_DEFAULTS.mirror, variant: apt.variant ?? APT_DEFAULTS.variant },
    positions: reader.positions,
  };
  for (const key of ['publish_local', 'publish_registry', 'publish_s3', 's3_prefix', 's3_bucket', 'proxy', 'inventory', 'vars', 'releasever'] as const) {
    if (o[key] !== undefined) (spec.options as Record<string, unknown>)[key] = o[key];
  }
  return { spec, problems: [] };
}
