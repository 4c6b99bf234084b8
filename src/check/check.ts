import { formatImageRef, type ImageRecord, type ImageTree, type Store } from '../store/index.ts';
import { runRules, type ContentSource } from './gather.ts';
import { labelModels } from './models.ts';
import { bootFiles } from './rules/boot.ts';
import { diskless } from './rules/diskless.ts';
import { minVersionLabel, modelsLabel, preferredNameLabel } from './rules/labels.ts';
import { features, timeSync } from './rules/optional.ts';
import { sshServer } from './rules/ssh.ts';
import { architecture, busybox, commands, init } from './rules/system.ts';
import type { Finding, Rule, Status } from './types.ts';

/** Every rule, in report order: labels, per-model boot files and kernel, system, ssh, diskless boot, optional features. */
export const RULES: readonly Rule[] = [modelsLabel, minVersionLabel, bootFiles, architecture, init, busybox, commands, sshServer, diskless, timeSync, preferredNameLabel, features];

/** The result of checking an image (the shape `kiln image check --json` prints). */
export interface CheckReport {
  image: string;
  digest: string;
  /** The models checked: --model, else walt.node.models. */
  models: string[];
  /** False when a mandatory requirement fails (exit status 1). */
  ok: boolean;
  counts: Record<Status, number>;
  findings: Finding[];
}

/** What to check an image for. */
export interface CheckOptions {
  /** Node models to check instead of those in walt.node.models. */
  models?: readonly string[];
}

/** Checks a file tree against the rules (no store needed: tests pass trees built from tarballs). */
export async function checkTree(
  tree: ImageTree,
  image: { labels: Readonly<Record<string, string>>; architecture: string },
  source: ContentSource,
  options: CheckOptions = {},
): Promise<{ models: string[]; findings: Finding[] }> {
  const models = options.models && options.models.length > 0 ? [...new Set(options.models)] : labelModels(image.labels);
  const findings = groupByModel(await runRules({ tree, labels: image.labels, architecture: image.architecture, models }, RULES, source), models);
  if (tree.unsafeCount > 0) {
    findings.push({
      id: 'layers.unsafe', requirement: 'layer member names', mandatory: false, status: 'warn',
      found: `${tree.unsafeCount} member${tree.unsafeCount === 1 ? '' : 's'} with a name climbing out of the root, ignored (e.g. ${tree.unsafe[0]})`,
      fix: 'rebuild the layer without ".." in member names',
    });
  }
  return { models, findings };
}

/** Keeps rule order, but puts each model's findings together, after the image-wide ones that precede them. */
function groupByModel(findings: Finding[], models: readonly string[]): Finding[] {
  const firstModel = findings.findIndex((f) => f.model !== undefined);
  const group = (f: Finding, i: number): number => (f.model !== undefined ? 1 + models.indexOf(f.model) : firstModel < 0 || i < firstModel ? 0 : models.length + 1);
  return findings.map((f, i) => ({ f, g: group(f, i), i })).sort((a, b) => a.g - b.g || a.i - b.i).map((x) => x.f);
}

/** Summarises findings into a report. */
export function makeReport(image: string, digest: string, models: string[], findings: Finding[]): CheckReport {
  const counts: Record<Status, number> = { pass: 0, fail: 0, warn: 0, info: 0 };
  for (const f of findings) counts[f.status]++;
  // One key order for every finding, as documented for --json.
  const ordered = findings.map((f): Finding => ({
    id: f.id, requirement: f.requirement, ...(f.model ? { model: f.model } : {}), status: f.status, mandatory: f.mandatory, found: f.found, ...(f.fix ? { fix: f.fix } : {}),
  }));
  return { image, digest, models, ok: !findings.some((f) => f.status === 'fail' && f.mandatory), counts, findings: ordered };
}

/**
 * Checks whether a stored image can boot the node models it claims (seeds 000/001/002) or
 * boot diskless (seed 004), reading only layer headers and the few files rules need. Layer
 * indexes are cached by the store, so a second check is faster.
 */
export async function checkImage(store: Store, record: ImageRecord, options: CheckOptions = {}): Promise<CheckReport> {
  const manifest = await store.readManifest(record.manifestDigest);
  const tree = await store.readTree(manifest);
  try {
    const { models, findings } = await checkTree(tree, { labels: record.labels, architecture: record.platform.architecture }, store.layerSource, options);
    return makeReport(formatImageRef(record.ref), record.manifestDigest, models, findings);
  } finally {
    tree.close();
  }
}
