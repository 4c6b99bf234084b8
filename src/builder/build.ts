import { KilnError, ErrorCode, isKilnError, removeTree, type Logger, type Progress } from '../core/index.ts';
import { gatePublish } from '../check/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { formatImageRef, parseImageRef, sameRef, type ImageRef, type Store } from '../store/index.ts';
import { openBuildCache, type BuildCache } from './cache.ts';
import { executePlan, type BuildResult, type ParentImage } from './execute.ts';
import { planBuild, type BuildPlan } from './plan.ts';
import { copySource, hashCopySource, loadSpecs, specError } from './spec-load.ts';
import { specPosition, type BuildSpec } from './spec.ts';
import { hashAnsibleSources } from './ansible.ts';
import { listHostFiles } from './host-paths.ts';
import { checkForeignArch } from './foreign.ts';
import { planPublish, publishBuilt, type PublishOutcome, type PublishSetup } from './publish.ts';
import { checkPullOpts, describeRemote, ensureRemoteParent, remoteParent, type RemoteParent } from './parent.ts';

/** Options of {@link buildImages}. */
export interface BuildOptions {
  /** The acting user: owner of the built images and of parents named without a user. */
  user: string;
  logger: Logger;
  /** Shows layers as they enter the store. */
  progress?: Progress;
  /** Publish images that fail the bootability check (the same escape as `kiln image publish --force`). */
  force?: boolean;
  dryRun?: boolean;
  noCache?: boolean;
  signal?: AbortSignal;
  /** SOURCE_DATE_EPOCH (seconds): clamps layer mtimes and fixes image times. */
  epoch?: string;
  /** Overrides every spec's options.log_level (image-build --log-level). */
  logLevel?: string;
  /** Host directories copyfiles may read besides each spec's own (--allow-host-path, kiln.yaml allow_host_paths). */
  allowHostPaths?: readonly string[];
  /** Acts on publish_registry and publish_s3 once every spec is built; without it they are only validated. */
  publish?: PublishSetup;
}

/** What `kiln image build` did for each spec: its plan, and the result unless it was a dry run. */
export interface SpecOutcome {
  plan: BuildPlan;
  result?: BuildResult;
  /** What publish_registry / publish_s3 published. */
  published?: PublishOutcome;
}

type Resolved = { kind: 'scratch' } | { kind: 'store'; ref: ImageRef } | { kind: 'earlier'; ref: ImageRef; index: number } | { kind: 'remote'; ref: ImageRef; remote: RemoteParent };

/**
 * Resolves each spec's parent: scratch, an image built by an earlier spec of the same run,
 * a store image, or a remote one (clone URL or registry reference, see parent.ts). Problems are reported together.
 */
function resolveParents(store: Store, user: string, specs: readonly BuildSpec[], registries: readonly RegistryConfig[]): Resolved[] {
  const problems: string[] = [];
  let pullProblems = 0;
  const out = specs.map((spec, i): Resolved => {
    const parent = spec.options.parent;
    const pullOpts = checkPullOpts(spec);
    problems.push(...pullOpts);
    pullProblems += pullOpts.length;
    if (parent === 'scratch') return { kind: 'scratch' };
    let ref: ImageRef | undefined;
    try {
      ref = parseImageRef(parent, user, { allowReserved: true });
    } catch {
      ref = undefined;
    }
    if (ref === undefined || !store.findImage(ref)) {
      let remote: ReturnType<typeof remoteParent>;
      try {
        remote = pullOpts.length > 0 ? undefined : remoteParent(parent, spec.options.registry_opts_pull, registries, user);
      } catch (err) {
        if (!isKilnError(err)) throw err;
        if (err.code === ErrorCode.AUTH) throw new KilnError(err.code, `${specPosition(spec, 'options.parent')}: ${err.message}`, { hint: err.hint });
        problems.push(`${specPosition(spec, 'options.parent')}: ${err.message}${err.hint ? ` (${err.hint})` : ''}`);
        return { kind: 'scratch' };
      }
      if (remote && 'local' in remote) ref = remote.local;
      else if (remote) return { kind: 'remote', ref: remote.ref, remote };
    }
    if (ref === undefined) {
      if (pullOpts.length === 0) problems.push(`${specPosition(spec, 'options.parent')}: parent "${parent}" is not "scratch", an image of this store, a clone URL (<label>:user/name[:tag]) or a registry reference (host[:port]/path[:tag])`);
      return { kind: 'scratch' };
    }
    for (let j = i - 1; j >= 0; j--) {
      const earlier = specs[j] as BuildSpec;
      if (earlier.options.publish_tags.some((tag) => sameRef(ref, { user, name: earlier.options.name, tag }))) return { kind: 'earlier', ref, index: j };
    }
    if (store.findImage(ref)) return { kind: 'store', ref };
    problems.push(`${specPosition(spec, 'options.parent')}: unknown parent image ${formatImageRef(ref)}: it is not in the store nor built by an earlier spec of this command`);
    return { kind: 'scratch' };
  });
  if (problems.length > 0) {
    const err = specError(problems);
    if (problems.length === pullProblems) throw err;
    throw new KilnError(err.code, err.message, { hint: 'build or clone the parent first (kiln image clone <url>), or list its spec before this one' });
  }
  return out;
}

async function copyHashes(spec: BuildSpec): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const c of spec.copyfiles) hashes.set(c.src, await hashCopySource(spec.copyHosts?.get(c.src) ?? copySource(spec, c.src)));
  for (const [path, hash] of await hashAnsibleSources(spec)) hashes.set(path, hash);
  return hashes;
}

async function parentImage(store: Store, ref: ImageRef): Promise<ParentImage> {
  const record = store.getImage(ref);
  const manifest = await store.readManifest(record.manifestDigest);
  return { ref: formatImageRef(ref), manifest, config: await store.readConfig(manifest) };
}

async function planOne(spec: BuildSpec, parent: ParentImage | undefined, resolved: Resolved, cache: BuildCache, noCache: boolean): Promise<BuildPlan> {
  const hashes = await copyHashes(spec);
  const cachedKeys = new Set<string>();
  const probe = planBuild(spec, resolved.kind === 'scratch' ? { kind: 'scratch' } : { kind: 'image', ref: formatImageRef(resolved.ref), diffIds: parent?.config.rootfs.diff_ids }, (src) => hashes.get(src) ?? '', () => false);
  if (!noCache) for (const s of probe.steps) if (s.key !== undefined && (await cache.read(s.key))) cachedKeys.add(s.key);
  const plan = planBuild(spec, probe.parent, (src) => hashes.get(src) ?? '', (key) => cachedKeys.has(key));
  for (const step of plan.steps) {
    if (step.input.kind !== 'copyfiles') continue;
    step.hostFiles = [];
    for (const f of step.input.files) step.hostFiles.push(...(await listHostFiles(spec.copyHosts?.get(f.src) ?? copySource(spec, f.src))));
  }
  return plan;
}

/**
 * Builds image specs in order (a later spec may use an earlier one as parent): all
 * specs are validated and their parents resolved before anything runs. With `dryRun`,
 * only the plans are returned.
 */
export async function buildImages(store: Store, files: readonly string[], options: BuildOptions): Promise<SpecOutcome[]> {
  const specs = await loadSpecs(files, { allowHostPaths: options.allowHostPaths ?? [] });
  if (options.logLevel !== undefined) for (const spec of specs) spec.options.log_level = options.logLevel.toUpperCase();
  const setup: PublishSetup = options.publish ?? { registries: [], env: process.env, logger: options.logger };
  const resolved = resolveParents(store, options.user, specs, setup.registries);
  const publishPlans = planPublish(specs, setup.registries);
  const cache = openBuildCache(store.dirs.cacheDir('build'), (digest) => store.hasBlob(digest));
  // While a build runs, `kiln store gc` leaves the build cache alone: it sees this live work directory.
  const running = options.dryRun ? undefined : await cache.workDir('build');
  try {
    // Remote parents join the store before any plan is made; a dry run only says they will be pulled.
    const pulled = new Set<string>();
    for (const [i, r] of resolved.entries()) {
      if (r.kind !== 'remote' || options.dryRun || pulled.has(formatImageRef(r.ref))) continue;
      await ensureRemoteParent(store, r.remote, specPosition(specs[i] as BuildSpec, 'options.parent'), { ...setup, user: options.user, ...(options.signal ? { signal: options.signal } : {}) });
      pulled.add(formatImageRef(r.ref));
    }
    const outcomes: SpecOutcome[] = [];
    for (const [i, spec] of specs.entries()) {
      const r = resolved[i] as Resolved;
      // A parent built earlier in this run is known only once it is built (or, in a dry run, if it already is).
      const parentRef = r.kind === 'scratch' ? undefined : r.ref;
      const parent = parentRef && store.findImage(parentRef) && (r.kind === 'store' || r.kind === 'remote' || !options.dryRun || outcomes[(r as { index: number }).index]?.plan.steps.every((s) => s.cached))
        ? await parentImage(store, parentRef)
        : undefined;
      const plan = await planOne(spec, parent, r, cache, options.noCache === true);
      if (r.kind === 'remote' && plan.parent.kind === 'image') plan.parent.remote = describeRemote(r.remote, !parent);
      if (options.dryRun) {
        outcomes.push({ plan });
        continue;
      }
      // The image's platform is its parent's; a foreign one runs under qemu-user, checked before any step runs.
      const platform = parent ? { os: parent.config.os, architecture: parent.config.architecture, ...(parent.config.variant ? { variant: parent.config.variant } : {}) } : spec.options.platform;
      if (parent && spec.positions.has('options.platform') && platform.architecture !== spec.options.platform.architecture) {
        throw new KilnError(ErrorCode.CONFIG, `${specPosition(spec, 'options.platform')}: platform ${spec.options.platform.architecture} differs from parent ${parent.ref} (${platform.architecture})`, { hint: 'a layer has its parent\'s platform: remove options.platform or use a parent of that platform' });
      }
      if (options.noCache === true || plan.steps.some((s) => !s.cached)) await checkForeignArch(platform);
      options.logger.info(`Building ${spec.file}: ${spec.options.publish_tags.map((t) => `${spec.options.name}:${t}`).join(', ')}`);
      const result = await executePlan(store, plan, parent, { cache, user: options.user, logger: options.logger, ...(options.progress ? { progress: options.progress } : {}), noCache: options.noCache === true, ...(options.signal ? { signal: options.signal } : {}), ...(options.epoch !== undefined ? { epoch: options.epoch } : {}) });
      outcomes.push({ plan, result });
    }
    // Publish only once every spec of the command is built: a failed build publishes nothing.
    if (options.publish && !options.dryRun) {
      const toPublish = outcomes.flatMap((outcome, i) => {
        const p = publishPlans[i];
        return p && outcome.result && (p.registry || p.s3) ? [{ outcome, p, result: outcome.result }] : [];
      });
      // The publish gate of `kiln image publish`: a node image that cannot boot leaves for no registry or bucket, unless forced.
      for (const { result } of toPublish) {
        await gatePublish(store, result.record, { force: options.force === true, logger: options.logger, scope: 'node-images' });
      }
      for (const { outcome, p, result } of toPublish) {
        outcome.published = await publishBuilt(store, p, result.refs, { ...options.publish, user: options.user });
      }
    }
    return outcomes;
  } finally {
    if (running) await removeTree(running);
  }
}
