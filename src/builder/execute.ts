import { join } from 'node:path';
import { KilnError, ErrorCode, MediaType, removeTree, start, type Digest, type Logger, type Progress } from '../core/index.ts';
import {
  parseManifest, renderManifest, type BlobHold, type Descriptor, type ImageConfig, type ImageManifest, type ImageRecord, type ImageRef, type Store,
} from '../store/index.ts';
import type { BuildCache, StepEntry } from './cache.ts';
import { dirToLayer } from './layer.ts';
import type { BuildPlan, PlanStep } from './plan.ts';
import { mountOverlay, runInRoot, type SandboxResult } from './sandbox.ts';
import { stepCommand } from './steps.ts';
import { isToolStep, runToolStep } from './tool-steps.ts';
import { debianArch } from './foreign.ts';

/** Options of {@link executePlan}. */
export interface ExecuteOptions {
  cache: BuildCache;
  /** The acting user: owner of the built image. */
  user: string;
  logger: Logger;
  /** Shows the layers as they enter the store. */
  progress?: Progress;
  noCache?: boolean;
  signal?: AbortSignal;
  /** SOURCE_DATE_EPOCH: layer mtimes are clamped to it and image times set from it. */
  epoch?: string;
}

/** What happened to one step. */
export interface StepOutcome {
  index: number;
  name: string;
  key: string;
  cached: boolean;
  digest: Digest;
}

/** A built image: its record under the first tag, every tag, and each step's outcome. */
export interface BuildResult {
  record: ImageRecord;
  refs: ImageRef[];
  steps: StepOutcome[];
}

/** The parent image's manifest and config, when the spec has one. */
export interface ParentImage {
  ref: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

const OUTPUT_LEVELS: Record<string, number> = { DEBUG: 10, INFO: 20, WARN: 30, WARNING: 30, ERROR: 40, CRITICAL: 50 };

function stepFailed(plan: BuildPlan, step: PlanStep, result: SandboxResult): KilnError {
  const tail = result.tail.filter((l) => l.trim() !== '').slice(-10).map((l) => `    ${l}`).join('\n');
  return new KilnError(ErrorCode.BUILD_FAILED, `${plan.spec.file}: step ${step.index}/${plan.steps.length} "${step.name}" failed with exit status ${result.code}${tail ? `; last lines of its output:\n${tail}` : ''}`, {
    hint: 'fix the step in the spec and build again: the steps before it are cached, nothing was tagged',
  });
}

/** Runs mmdebstrap (a scratch layer's bootstrap) into `target`, capturing its output tail. */
async function bootstrap(input: Extract<PlanStep['input'], { kind: 'bootstrap' }>, target: string, options: ExecuteOptions, onLine: (l: string) => void): Promise<SandboxResult> {
  const tool = start('mmdebstrap', [`--variant=${input.variant}`, `--arch=${debianArch(input.architecture)}`, '--mode=root', input.suite, target, input.mirror], { stdout: 'pipe', ...(options.signal ? { signal: options.signal } : {}) });
  const tail: string[] = [];
  const push = (text: string): void => {
    for (const line of text.split('\n')) {
      if (!line) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      onLine(line);
    }
  };
  tool.child.stdout?.setEncoding('utf8').on('data', push);
  tool.child.stderr?.on('data', push);
  try {
    await tool.done;
  } catch (err) {
    if (tool.child.exitCode === null) throw err;
  }
  return { code: tool.child.exitCode ?? -1, tail };
}

/** Runs one step: its result is a directory in overlayfs format, turned into a layer blob of the store (under `hold`). */
async function runStep(store: Store, hold: BlobHold, plan: BuildPlan, step: PlanStep, lowers: string[], options: ExecuteOptions): Promise<StepEntry> {
  const { cache, logger } = options;
  const threshold = OUTPUT_LEVELS[plan.spec.options.log_level] ?? 20;
  const level = OUTPUT_LEVELS[step.loglevel ?? 'INFO'] ?? 20;
  const onLine = (line: string): void => (level >= threshold ? logger.info(`  | ${line}`) : logger.debug(`  | ${line}`));
  const work = await cache.workDir('step');
  try {
    let upper: string;
    if (step.input.kind === 'bootstrap') {
      upper = join(work, 'upper');
      const result = await bootstrap(step.input, upper, options, onLine);
      if (result.code !== 0) throw stepFailed(plan, step, result);
    } else {
      const command = isToolStep(step.input) ? undefined : await stepCommand(plan.spec, step.input, work);
      const overlay = await mountOverlay(lowers, work);
      upper = overlay.upper;
      try {
        const result = command
          ? await runInRoot(overlay.merged, command.argv, { binds: command.binds, env: command.env, onLine, ...(options.signal ? { signal: options.signal } : {}) })
          : await runToolStep(plan.spec, step.input, overlay.merged, work, { onLine, ...(options.signal ? { signal: options.signal } : {}) });
        if (result.code !== 0) throw stepFailed(plan, step, result);
      } finally {
        await overlay.unmount();
      }
    }
    const layer = await dirToLayer(upper, (tar) => store.addBlob(tar, hold, options.signal ? { signal: options.signal } : {}), work, options.epoch);
    await cache.adoptLayerDir(layer.digest, upper);
    const created = options.epoch !== undefined ? new Date(Number(options.epoch) * 1000).toISOString() : new Date().toISOString();
    const entry: StepEntry = { key: step.key as string, digest: layer.digest, size: layer.size, created, createdBy: `kiln image build: ${step.name}` };
    await cache.write(entry);
    return entry;
  } finally {
    await removeTree(work);
  }
}

const layerDescriptor = (entry: StepEntry): Descriptor => ({ mediaType: MediaType.ociLayer, digest: entry.digest, size: entry.size });

/**
 * Executes a plan: cached steps are reused, the others run in order in the sandbox, and
 * the image is committed under every `publish_tags` entry. A failing step stops the build
 * before anything is tagged.
 */
export async function executePlan(store: Store, plan: BuildPlan, parent: ParentImage | undefined, options: ExecuteOptions): Promise<BuildResult> {
  const { cache } = options;
  const parentLayers = parent?.manifest.layers ?? [];
  const entries: StepEntry[] = [];
  const outcomes: StepOutcome[] = [];
  const lowerDirs = async (): Promise<string[]> => {
    const dirs: string[] = [];
    for (const layer of parentLayers) dirs.push(await cache.ensureLayerDir(layer, () => store.openBlob(layer.digest, layer.size)));
    for (const e of entries) dirs.push(await cache.ensureLayerDir(layerDescriptor(e), () => store.openBlob(e.digest, e.size)));
    return dirs.reverse();
  };
  // The steps' layers are store blobs no image refers to until the commit: held from gc till then.
  const hold = store.holdBlobs();
  try {
    for (const step of plan.steps) await runOrReuse(store, hold, plan, step, entries, outcomes, lowerDirs, options);
    const { record, refs } = await commitBuild(store, plan, parent, entries, options);
    return { record, refs, steps: outcomes };
  } finally {
    hold.release();
  }
}

/** Reuses a step's cached layer (held, then checked still there) or runs the step. */
async function runOrReuse(
  store: Store, hold: BlobHold, plan: BuildPlan, step: PlanStep, entries: StepEntry[], outcomes: StepOutcome[],
  lowerDirs: () => Promise<string[]>, options: ExecuteOptions,
): Promise<void> {
  const { cache, logger } = options;
  if (step.key === undefined) throw new KilnError(ErrorCode.BUILD_FAILED, `${plan.spec.file}: step ${step.name} has no cache key (its parent is not built)`);
  const total = plan.steps.length;
  let hit = options.noCache ? undefined : await cache.read(step.key);
  if (hit) hold.add([hit.digest]);
  // A gc between the read and the hold may have taken the layer: then the step runs again.
  if (hit && !store.hasBlob(hit.digest)) hit = undefined;
  if (hit) {
    logger.info(`[${step.index}/${total}] cached  ${step.name}`);
    entries.push(hit);
    outcomes.push({ index: step.index, name: step.name, key: step.key, cached: true, digest: hit.digest });
    return;
  }
  logger.info(`[${step.index}/${total}] run     ${step.name}`);
  const entry = await runStep(store, hold, plan, step, step.input.kind === 'bootstrap' ? [] : await lowerDirs(), options);
  entries.push(entry);
  outcomes.push({ index: step.index, name: step.name, key: step.key, cached: false, digest: entry.digest });
}

/** Writes the config and manifest of a build and tags it; the same steps give the same manifest. */
async function commitBuild(store: Store, plan: BuildPlan, parent: ParentImage | undefined, entries: StepEntry[], options: ExecuteOptions): Promise<{ record: ImageRecord; refs: ImageRef[] }> {
  const { spec } = plan;
  const base: ImageConfig = parent?.config ?? {
    architecture: spec.options.platform.architecture, os: spec.options.platform.os,
    ...(spec.options.platform.variant ? { variant: spec.options.platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const times = entries.map((e) => e.created).sort();
  const created = options.epoch !== undefined ? new Date(Number(options.epoch) * 1000).toISOString() : (times.at(-1) ?? base.created ?? new Date(0).toISOString());
  const config: ImageConfig = {
    ...base,
    created,
    config: { ...(base.config ?? {}), Labels: { ...(base.config?.Labels ?? {}), ...spec.labels } },
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...entries.map((e) => e.digest)] },
    history: [...(base.history ?? []), ...entries.map((e) => ({ created: e.created, created_by: e.createdBy, comment: `kiln build step ${e.key}` }))],
  };
  const layers = [...(parent?.manifest.layers ?? []), ...entries.map(layerDescriptor)];
  const refs = spec.options.publish_tags.map((tag) => ({ user: options.user, name: spec.options.name, tag }));
  const [first, ...others] = refs as [ImageRef, ...ImageRef[]];
  const record = await commitBuiltImage(store, first, config, layers, { force: true, what: 'built manifest', signal: options.signal, progress: options.progress });
  for (const ref of others) store.duplicate(first, ref, { force: true });
  return { record, refs };
}

/**
 * Commits an image whose layers are in the store already (held by the caller): only its
 * config and manifest are new. Builds, Dockerfile builds and image edits end here.
 */
export async function commitBuiltImage(
  store: Store, ref: ImageRef, config: ImageConfig, layers: readonly Descriptor[],
  options: { force: boolean; what: string; signal?: AbortSignal | undefined; progress?: Parameters<Store['createStaging']>[1] },
): Promise<ImageRecord> {
  const staging = await store.createStaging(options.signal, options.progress);
  try {
    const configBlob = await staging.stageBytes(JSON.stringify(config));
    const text = renderManifest({ mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size }, [...layers]);
    const manifestBlob = await staging.stageBytes(text);
    const manifest = parseManifest(text, options.what);
    return await store.commitImage(staging, { ref, manifestDigest: manifestBlob.digest, manifestSize: manifestBlob.size, manifest, config }, { force: options.force });
  } finally {
    await staging.dispose();
  }
}
