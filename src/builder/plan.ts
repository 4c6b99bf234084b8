import { createHash } from 'node:crypto';
import type { Digest } from '../core/index.ts';
import type { BuildSpec } from './spec.ts';

/** What a step does; its `input` is everything its result depends on besides the steps before it. */
export type StepInput =
  | { kind: 'bootstrap'; pkg_manager: 'apt'; suite: string; mirror: string; variant: string; architecture: string }
  | { kind: 'repos'; pkg_manager: string; repos: Array<{ alias: string; url: string; gpg?: string }>; releasever?: string }
  | { kind: 'package_groups' | 'packages' | 'remove_packages'; pkg_manager: string; names: string[]; releasever?: string }
  | { kind: 'copyfiles'; files: Array<{ src: string; dst: string; content: string }> }
  | { kind: 'cmd'; cmd: string }
  | AnsibleInput;

/** An Ansible layer's one step: playbooks and inventory with the hashes of what they read (see hashAnsibleSources), groups and vars. */
export interface AnsibleInput {
  kind: 'ansible';
  playbooks: Array<{ path: string; content: string }>;
  inventory?: { path: string; content: string };
  groups: string[];
  vars: unknown;
}

/** One step of a build plan. */
export interface PlanStep {
  /** 1-based position in its spec's plan. */
  index: number;
  /** What users read: "packages: hello busybox-static", "cmds[2]: echo hi". */
  name: string;
  input: StepInput;
  /** sha256 (hex) of the previous key and this step's canonical input; undefined while the parent is not built yet. */
  key: string | undefined;
  cached: boolean;
  /** For cmds: the log level of the command's output. */
  loglevel?: string;
  /** For copyfiles: every host file the step copies (real paths; a directory's entries listed below it). */
  hostFiles?: string[];
}

/** The steps of one spec, in order, and the parent they start from. */
export interface BuildPlan {
  spec: BuildSpec;
  parent: { kind: 'scratch' } | { kind: 'image'; ref: string; diffIds: readonly Digest[] | undefined; remote?: string };
  steps: PlanStep[];
}

/** JSON with object keys sorted, so that equal inputs hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The key a build starts from: "scratch", or a hash of the parent's layer diff_ids (its content, not its name or labels). */
export function baseKey(parent: BuildPlan['parent']): string | undefined {
  if (parent.kind === 'scratch') return 'scratch';
  if (parent.diffIds === undefined) return undefined;
  return createHash('sha256').update(`parent\n${parent.diffIds.join('\n')}`).digest('hex');
}

/** A step's cache key: sha256 of the previous key and the step's canonical input. */
export function stepKey(previous: string, input: StepInput): string {
  return createHash('sha256').update(`kiln-build-step-v1\n${previous}\n${canonicalJson(input)}`).digest('hex');
}

/**
 * The steps a spec becomes, without keys: bootstrap (scratch with apt), repos, package_groups,
 * packages, remove_packages, copyfiles, cmds; an Ansible layer is one step. dnf and zypper
 * need no bootstrap: their first step installs into the empty root (--installroot, --root).
 */
export function specSteps(spec: BuildSpec, contentOf: (src: string) => string): Array<Omit<PlanStep, 'key' | 'cached' | 'index'>> {
  const pm = spec.options.pkg_manager ?? 'apt';
  const steps: Array<Omit<PlanStep, 'key' | 'cached' | 'index'>> = [];
  if (spec.options.layer_type === 'ansible') {
    const { playbooks, inventory, groups, vars } = spec.options;
    const input: AnsibleInput = {
      kind: 'ansible',
      playbooks: playbooks.map((p) => ({ path: p, content: contentOf(p) })),
      ...(inventory !== undefined ? { inventory: { path: inventory, content: contentOf(inventory) } } : {}),
      groups: [...groups],
      vars: vars ?? {},
    };
    return [{ name: `ansible: ${playbooks.join(' ')}${groups.length > 0 ? ` (groups ${groups.join(' ')})` : ''}`, input }];
  }
  // Only rpm-family steps carry releasever, so apt keys stay what they were.
  const releasever = pm === 'apt' ? undefined : spec.options.releasever;
  if (spec.options.parent === 'scratch' && pm === 'apt') {
    const { suite, mirror, variant } = spec.apt;
    steps.push({ name: `bootstrap: debian ${suite} (${variant}) from ${mirror}`, input: { kind: 'bootstrap', pkg_manager: 'apt', suite, mirror, variant, architecture: spec.options.platform.architecture } });
  }
  if (spec.repos.length > 0) {
    const repos = spec.repos.map((r) => ({ alias: r.alias, url: r.url, ...(r.gpg ? { gpg: r.gpg } : {}) }));
    steps.push({ name: `repos: ${repos.map((r) => r.alias).join(' ')}`, input: { kind: 'repos', pkg_manager: pm, repos, releasever } });
  }
  for (const kind of ['package_groups', 'packages', 'remove_packages'] as const) {
    if (spec[kind].length > 0) steps.push({ name: `${kind}: ${spec[kind].join(' ')}`, input: { kind, pkg_manager: pm, names: [...spec[kind]], releasever } });
  }
  if (spec.copyfiles.length > 0) {
    const files = spec.copyfiles.map((c) => ({ src: c.src, dst: c.dst, content: contentOf(c.src) }));
    steps.push({ name: `copyfiles: ${files.map((f) => f.dst).join(' ')}`, input: { kind: 'copyfiles', files } });
  }
  spec.cmds.forEach((c, i) => {
    const short = c.cmd.length > 60 ? `${c.cmd.slice(0, 57)}...` : c.cmd;
    steps.push({ name: `cmds[${i}]: ${short.replace(/\s+/g, ' ')}`, input: { kind: 'cmd', cmd: c.cmd }, loglevel: c.loglevel });
  });
  return steps;
}

/**
 * Plans a spec: its steps with their cache keys, each marked cached when `isCached(key)`.
 * Pure: copied files' contents come as hashes from `contentOf`, the cache as a predicate.
 */
export function planBuild(
  spec: BuildSpec,
  parent: BuildPlan['parent'],
  contentOf: (src: string) => string,
  isCached: (key: string) => boolean,
): BuildPlan {
  let previous = baseKey(parent);
  const steps = specSteps(spec, contentOf).map((s, i): PlanStep => {
    const key = previous === undefined ? undefined : stepKey(previous, s.input);
    previous = key;
    return { ...s, index: i + 1, key, cached: key !== undefined && isCached(key) };
  });
  return { spec, parent, steps };
}

/** The plan as text: one line per step, "cached" or "run". */
export function formatPlan(plan: BuildPlan): string {
  const tags = plan.spec.options.publish_tags.map((t) => `${plan.spec.options.name}:${t}`).join(', ');
  const from = plan.parent.kind === 'scratch' ? 'scratch' : `${plan.parent.ref}${plan.parent.remote ? ` (${plan.parent.remote})` : ''}`;
  const lines = [`${plan.spec.file}: ${tags} from ${from}, ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}`];
  for (const s of plan.steps) {
    lines.push(`  ${s.cached ? 'cached' : 'run   '}  ${s.index}/${plan.steps.length} ${s.name}`);
    for (const file of s.hostFiles ?? []) lines.push(`            copies ${file}`);
  }
  return lines.join('\n');
}
