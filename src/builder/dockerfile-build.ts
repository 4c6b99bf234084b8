import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, MediaType, mkdirInRoot, removeTree, resolveInRoot, type Digest, type Logger, type Progress } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { formatImageRef, hostPlatform, parseImageRef, type Descriptor, type ImageConfig, type ImageRecord, type ImageRef, type Store } from '../store/index.ts';
import { openBuildCache, type BuildCache, type StepEntry } from './cache.ts';
import { dockerfileError, parseDockerfile } from './dockerfile-parse.ts';
import { keyStage, neededStages, planDockerfile, stageBases, type ContainerConfig, type DockerStage, type DockerStep } from './dockerfile-plan.ts';
import { chownIds, copyInto, dockerignore, resolveUser, findSources, hashSources, isMissing, refuseArchives, type IgnoreMatcher } from './dockerfile-copy.ts';
import { commitBuiltImage, type StepOutcome } from './execute.ts';
import { checkForeignArch } from './foreign.ts';
import { dirToLayer } from './layer.ts';
import { ensureRemoteParent, remoteParent } from './parent.ts';
import { baseKey } from './plan.ts';
import type { PublishSetup } from './publish.ts';
import { mountOverlay, runInRoot } from './sandbox.ts';

/** Options of {@link buildDockerfile}. */
export interface DockerfileOptions {
  user: string;
  logger: Logger;
  progress?: Progress;
  /** The image to build, `<name>[:<tag>]` of the acting user. */
  name: string;
  /** The build context: the Dockerfile, .dockerignore and what COPY reads. */
  context: string;
  /** The Dockerfile's path inside the context (default "Dockerfile"). */
  dockerfile?: string;
  buildArgs?: ReadonlyMap<string, string>;
  /** Platform of a build FROM scratch (default the host's): os/arch[/variant]. */
  platform?: { os: string; architecture: string; variant?: string };
  /** How the context is named in messages (a clone URL for --from-url). */
  label?: string;
  dryRun?: boolean;
  noCache?: boolean;
  signal?: AbortSignal;
  epoch?: string;
  /** Registries for FROM names that are clone URLs or registry references. */
  registries?: readonly RegistryConfig[];
  publish?: PublishSetup;
}

/** A built (or planned) Dockerfile: its stages, the ones built, and the image. */
export interface DockerfileOutcome {
  file: string;
  stages: DockerStage[];
  needed: number[];
  result?: { record: ImageRecord; refs: ImageRef[]; steps: StepOutcome[] };
}

interface Base {
  layers: Descriptor[];
  config: ImageConfig;
  ref?: string;
}

/** The image a FROM names: the user's image, another user's (`user/name`), else a clone URL or registry reference pulled into the store. */
async function resolveBase(store: Store, name: string, at: string, options: DockerfileOptions): Promise<Base> {
  let ref: ImageRef | undefined;
  try {
    ref = parseImageRef(name, options.user, { allowReserved: true });
  } catch {
    ref = undefined;
  }
  if (ref === undefined || !store.findImage(ref)) {
    const remote = remoteParent(name, [], options.registries ?? [], options.user);
    if (remote && 'local' in remote) ref = remote.local;
    else if (remote) {
      if (!options.dryRun) {
        const setup = options.publish ?? { registries: options.registries ?? [], env: process.env, logger: options.logger };
        await ensureRemoteParent(store, remote, at, { ...setup, user: options.user, ...(options.signal ? { signal: options.signal } : {}) });
      }
      ref = remote.ref;
    }
  }
  if (ref === undefined || !store.findImage(ref)) {
    throw new KilnError(ErrorCode.NOT_FOUND, `${at}: FROM ${name}: no such image in the store`, { hint: 'build, import or clone it first (kiln image clone <url>), or name it by clone URL (hub:user/name)' });
  }
  const record = store.getImage(ref);
  const manifest = await store.readManifest(record.manifestDigest);
  return { layers: manifest.layers, config: await store.readConfig(manifest), ref: formatImageRef(ref) };
}

/** The environment of a RUN as bubblewrap takes it. */
const envObject = (env: readonly string[]): Record<string, string> => Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

/**
 * The setpriv command that runs a RUN step as `user` ("name", "uid", "name:group"), as Docker
 * does: the user's primary group unless a group is named, supplementary groups of a named user
 * from the image's /etc/group. setpriv (util-linux) must be in the image.
 */
async function setprivArgv(root: string, user: string, what: string): Promise<{ argv: string[]; homeDir?: string }> {
  let setpriv: string | undefined;
  for (const path of ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv']) {
    if ((await resolveInRoot(root, path)).exists) {
      setpriv = path;
      break;
    }
  }
  if (setpriv === undefined) {
    throw new KilnError(ErrorCode.CONFIG, `${what}: running a RUN step as another user than root needs setpriv, and the image has none`, { hint: 'install util-linux (which has setpriv) in an earlier RUN step, or run this step as root (USER root)' });
  }
  const { uid, gid, home } = await resolveUser(root, user, what);
  const [name = '', group] = user.split(':');
  const groups = group === undefined && !/^\d+$/.test(name) ? '--init-groups' : '--clear-groups';
  return { argv: [setpriv, `--reuid=${uid}`, `--regid=${gid}`, groups], ...(home ? { homeDir: home } : {}) };
}

interface StageState {
  layers: Descriptor[];
  config: ImageConfig;
  key: string;
}

/** Runs one step on an overlay of `lowers`; its upper directory becomes a layer of the store and a cache entry. */
async function runStep(store: Store, cache: BuildCache, step: DockerStep, lowers: string[], ctx: { context: string; ignored: IgnoreMatcher; stageRoots: Map<number, Descriptor[]>; options: DockerfileOptions; hold: ReturnType<Store['holdBlobs']>; file: string }): Promise<StepEntry> {
  const { options } = ctx;
  const work = await cache.workDir('step');
  const at = `${ctx.file}:${step.line}:${step.col}`;
  try {
    const overlay = await mountOverlay(lowers, work);
    try {
      const input = step.input;
      if (input.kind === 'docker-workdir') await mkdirInRoot(overlay.merged, input.path);
      else if (input.kind === 'docker-run') {
        // The working directory exists for the command, as Docker makes it.
        await mkdirInRoot(overlay.merged, input.workdir);
        const user = input.user && input.user !== 'root' && input.user !== '0' && input.user !== '0:0' ? input.user : undefined;
        const as = user ? await setprivArgv(overlay.merged, user, `${at}: USER ${user}`) : undefined;
        const argv = as ? [...as.argv, '--', ...input.argv] : input.argv;
        // As Docker's runtime: HOME is the user's home directory unless ENV sets it.
        const env = { ...(as?.homeDir ? { HOME: as.homeDir } : {}), ...envObject(input.env) };
        const result = await runInRoot(overlay.merged, argv, { env, chdir: input.workdir, onLine: (l) => options.logger.info(`  | ${l}`), ...(options.signal ? { signal: options.signal } : {}) });
        if (result.code !== 0) {
          const tail = result.tail.filter((l) => l.trim() !== '').slice(-10).map((l) => `    ${l}`).join('\n');
          throw new KilnError(ErrorCode.BUILD_FAILED, `${at}: ${step.name} failed with exit status ${result.code}${tail ? `; last lines of its output:\n${tail}` : ''}`, { hint: 'fix the step and build again: the steps before it are cached, nothing was tagged' });
        }
      } else {
        let srcRoot = ctx.context;
        let unmountSrc: (() => Promise<void>) | undefined;
        if (input.from.kind === 'stage') {
          const layers = ctx.stageRoots.get(input.from.index) ?? [];
          const dirs: string[] = [];
          for (const l of layers) dirs.push(await cache.ensureLayerDir(l, () => store.openBlob(l.digest, l.size)));
          const src = await mountOverlay(dirs.reverse(), join(work, 'src'));
          srcRoot = src.merged;
          unmountSrc = src.unmount;
        }
        try {
          const ignored: IgnoreMatcher = input.from.kind === 'context' ? ctx.ignored : () => false;
          const entries = await findSources(srcRoot, input.srcs, ignored, at);
          if (input.add) await refuseArchives(entries, at);
          const owner = input.chown ? await chownIds(overlay.merged, input.chown) : input.from.kind === 'context' ? { uid: 0, gid: 0 } : undefined;
          await copyInto(entries, overlay.merged, input.dest, { ...(owner ? { owner } : {}), ...(input.chmod ? { mode: parseInt(input.chmod, 8) } : {}), ignored });
        } finally {
          await unmountSrc?.();
        }
      }
    } finally {
      await overlay.unmount();
    }
    const layer = await dirToLayer(overlay.upper, (tar) => store.addBlob(tar, ctx.hold, options.signal ? { signal: options.signal } : {}), work, options.epoch);
    await cache.adoptLayerDir(layer.digest, overlay.upper);
    const created = options.epoch !== undefined ? new Date(Number(options.epoch) * 1000).toISOString() : new Date().toISOString();
    const entry: StepEntry = { key: step.key as string, digest: layer.digest, size: layer.size, created, createdBy: step.name };
    await cache.write(entry);
    return entry;
  } finally {
    await removeTree(work);
  }
}

/**
 * Builds a Dockerfile of a context directory: FROM names resolve among the user's images, then
 * other users' and remote references; each RUN, COPY, ADD and WORKDIR is a cached step of the
 * build cache (keys chained from the base's layers); the last stage is committed as `name`.
 */
export async function buildDockerfile(store: Store, options: DockerfileOptions): Promise<DockerfileOutcome> {
  const fileName = options.dockerfile ?? 'Dockerfile';
  const dockerfilePath = await resolveInRoot(options.context, fileName);
  const label = `${options.label ?? options.context}/${fileName}`.replace(/\/+/g, '/');
  let text: string;
  try {
    text = await readFile(dockerfilePath.host, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    throw new KilnError(ErrorCode.NOT_FOUND, `${label}: no Dockerfile in the build context`, { hint: 'put a Dockerfile at the root of the directory (or repository)' });
  }
  const parsed = parseDockerfile(text, label);
  const ignoreFile = await resolveInRoot(options.context, '.dockerignore');
  const ignored = dockerignore(ignoreFile.exists ? await readFile(ignoreFile.host, 'utf8') : '');
  const target = parseImageRef(options.name, options.user);
  if (target.user !== options.user) throw new KilnError(ErrorCode.USAGE, `cannot build ${formatImageRef(target)}: images are built under your own name`, { hint: `name it ${target.name}:${target.tag}` });
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const heads = stageBases(parsed, buildArgs);
  const bases = new Map<number, Base>();
  for (const [i, h] of heads.entries()) {
    if (h.from.kind === 'image') bases.set(i, await resolveBase(store, h.from.name, `${label}:${h.line}:${h.col}`, options));
  }
  const stages = planDockerfile(parsed, buildArgs, (i) => (bases.get(i)?.config.config ?? {}) as ContainerConfig);
  const needed = neededStages(stages);
  const cache = openBuildCache(store.dirs.cacheDir('build'), (digest) => store.hasBlob(digest));
  // Keys: a stage starts from its base's layers (or the base stage's last key); COPY sources are hashed now.
  const stageKeys = new Map<number, string>();
  for (const i of needed) {
    const stage = stages[i] as DockerStage;
    for (const step of stage.steps) {
      if (step.input.kind !== 'docker-copy' || step.input.from.kind !== 'context') continue;
      const entries = await findSources(options.context, step.input.srcs, ignored, `${label}:${step.line}:${step.col}`);
      step.input.content = await hashSources(entries, ignored);
    }
    const base = stage.from.kind === 'stage' ? stageKeys.get(stage.from.index) : baseKey(stage.from.kind === 'scratch' ? { kind: 'scratch' } : { kind: 'image', ref: '', diffIds: bases.get(i)?.config.rootfs.diff_ids });
    stageKeys.set(i, keyStage(stage, base as string, stageKeys));
    for (const step of stage.steps) step.cached = !options.noCache && (await cache.read(step.key as string)) !== undefined;
  }
  if (options.dryRun) return { file: label, stages, needed };
  const running = await cache.workDir('build');
  const hold = store.holdBlobs();
  try {
    const states = new Map<number, StageState>();
    const stageRoots = new Map<number, Descriptor[]>();
    const outcomes: StepOutcome[] = [];
    const total = needed.reduce((n, i) => n + (stages[i] as DockerStage).steps.length, 0);
    let index = 0;
    for (const i of needed) {
      const stage = stages[i] as DockerStage;
      const base = stage.from.kind === 'stage' ? states.get(stage.from.index) : bases.get(i);
      const scratch: ImageConfig = { architecture: options.platform?.architecture ?? hostPlatform().architecture, os: options.platform?.os ?? 'linux', ...(options.platform?.variant ? { variant: options.platform.variant } : {}), rootfs: { type: 'layers', diff_ids: [] } };
      const baseConfig = base?.config ?? scratch;
      if (stage.platform && !stage.platform.endsWith(`/${baseConfig.architecture}`) && !stage.platform.includes(`/${baseConfig.architecture}/`)) {
        throw dockerfileError(label, stage.line, stage.col, `FROM --platform=${stage.platform}: the base is ${baseConfig.os}/${baseConfig.architecture}`, 'Kiln builds on the base image\'s platform; use a base of that platform');
      }
      const layers = [...(base?.layers ?? [])];
      const entries: StepEntry[] = [];
      let foreignChecked = false;
      for (const step of stage.steps) {
        index++;
        let hit = options.noCache ? undefined : await cache.read(step.key as string);
        if (hit) hold.add([hit.digest]);
        if (hit && !store.hasBlob(hit.digest)) hit = undefined;
        if (hit) options.logger.info(`[${index}/${total}] cached  ${step.name}`);
        else {
          options.logger.info(`[${index}/${total}] run     ${step.name}`);
          if (step.input.kind === 'docker-run' && !foreignChecked) {
            await checkForeignArch({ os: baseConfig.os, architecture: baseConfig.architecture, ...(baseConfig.variant ? { variant: baseConfig.variant } : {}) });
            foreignChecked = true;
          }
          const lowers: string[] = [];
          for (const l of layers) lowers.push(await cache.ensureLayerDir(l, () => store.openBlob(l.digest, l.size)));
          hit = await runStep(store, cache, step, lowers.reverse(), { context: options.context, ignored, stageRoots, options, hold, file: label });
        }
        entries.push(hit);
        layers.push({ mediaType: MediaType.ociLayer, digest: hit.digest, size: hit.size });
        outcomes.push({ index, name: step.name, key: step.key as string, cached: step.cached === true && hit.key === step.key && !options.noCache, digest: hit.digest });
      }
      const times = entries.map((e) => e.created).sort();
      const created = options.epoch !== undefined ? new Date(Number(options.epoch) * 1000).toISOString() : (times.at(-1) ?? baseConfig.created ?? new Date(0).toISOString());
      const config: ImageConfig = {
        ...baseConfig,
        created,
        config: stage.config,
        rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, ...entries.map((e) => e.digest as Digest)] },
        history: [...(baseConfig.history ?? []), ...entries.map((e) => ({ created: e.created, created_by: e.createdBy, comment: `kiln build step ${e.key}` }))],
      };
      states.set(i, { layers, config, key: stageKeys.get(i) as string });
      stageRoots.set(i, layers);
    }
    const last = states.get(needed.at(-1) as number) as StageState;
    const record = await commitBuiltImage(store, target, last.config, last.layers, { force: true, what: 'built manifest', signal: options.signal, progress: options.progress });
    return { file: label, stages, needed, result: { record, refs: [target], steps: outcomes } };
  } finally {
    hold.release();
    await removeTree(running);
  }
}
