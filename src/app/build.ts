import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDockerfile, buildImages, type BuildPlan, type BuildResult, type DockerfileOutcome } from '../builder/index.ts';
import { checkImage, type CheckReport } from '../check/index.ts';
import { KilnError, ErrorCode, removeTree, run } from '../core/index.ts';
import { formatImageRef, parseImageRef } from '../store/index.ts';
import type { Core } from './core.ts';
import { signalOf, type Resolved } from './request.ts';
import { isNodeImage } from './view.ts';

/** Options of a build, as a user gives them. */
export interface BuildRequest {
  dryRun?: boolean;
  noCache?: boolean;
  logLevel?: string | undefined;
  /** Host directories copyfiles may read, besides kiln.yaml's allow_host_paths. */
  allowHostPaths?: readonly string[];
  /** Publish (publish_registry, publish_s3) images that fail the bootability check. */
  force?: boolean;
}

/** One spec's outcome: its plan, what was built, its check (node images) and what was published. */
export interface BuildOutcome {
  spec: string;
  plan: BuildPlan;
  /** `<user>/<name>:<tag>` of every tag (built, or to be built on a dry run). */
  images: string[];
  result?: BuildResult;
  check?: CheckReport;
  published?: { registry: string[]; s3: string[] };
}

/** Builds specs in order as the user, publishes what they ask for (through the publish gate), and checks node images. */
export async function build(core: Core, req: Resolved, files: readonly string[], options: BuildRequest): Promise<BuildOutcome[]> {
  const store = core.store();
  const epoch = core.env.SOURCE_DATE_EPOCH;
  const outcomes = await buildImages(store, files, {
    user: req.user, logger: req.logger, progress: req.progress, dryRun: options.dryRun === true, noCache: options.noCache === true, force: options.force === true,
    ...signalOf(req),
    ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
    allowHostPaths: [...core.config.allowHostPaths, ...(options.allowHostPaths ?? [])],
    ...(epoch !== undefined && /^\d+$/.test(epoch) ? { epoch } : {}),
    publish: {
      registries: core.config.registries, env: core.env, logger: req.logger, progress: req.progress, idleTimeoutMs: core.idleTimeoutMs(), ...signalOf(req),
    },
  });
  const out: BuildOutcome[] = [];
  for (const { plan, result, published } of outcomes) {
    const check = result && isNodeImage(result.record) ? await checkImage(store, result.record) : undefined;
    out.push({
      spec: plan.spec.file,
      plan,
      images: result ? result.refs.map(formatImageRef) : plan.spec.options.publish_tags.map((t) => `${req.user}/${plan.spec.options.name}:${t}`),
      ...(result ? { result } : {}),
      ...(check ? { check } : {}),
      ...(published ? { published } : {}),
    });
  }
  return out;
}

/** A Dockerfile build as a user asks for it: `kiln image build <name> --from-dir <dir>` or `--from-url <git-url>`. */
export interface DockerfileRequest {
  name: string;
  fromDir?: string;
  fromUrl?: string;
  buildArgs?: ReadonlyMap<string, string>;
  dryRun?: boolean;
  noCache?: boolean;
}

/** What a Dockerfile build did: the outcome, the image's check (node images), and the image names. */
export interface DockerfileBuildOutcome extends DockerfileOutcome {
  images: string[];
  check?: CheckReport;
}

/**
 * Builds the Dockerfile of a directory, or of a git repository cloned (`git clone --depth 1`)
 * into a temporary directory removed afterwards.
 */
export async function buildFromDockerfile(core: Core, req: Resolved, options: DockerfileRequest): Promise<DockerfileBuildOutcome> {
  if ((options.fromDir === undefined) === (options.fromUrl === undefined)) {
    throw new KilnError(ErrorCode.USAGE, 'a Dockerfile build takes exactly one of --from-dir <dir> and --from-url <git-url>');
  }
  const store = core.store();
  const epoch = core.env.SOURCE_DATE_EPOCH;
  let context = options.fromDir as string;
  let temp: string | undefined;
  try {
    if (options.fromUrl !== undefined) {
      temp = await mkdtemp(join(tmpdir(), 'kiln-git-'));
      context = join(temp, 'context');
      req.logger.info(`Cloning ${options.fromUrl}`);
      await run('git', ['clone', '--quiet', '--depth', '1', '--', options.fromUrl, context], { ...signalOf(req), env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
    }
    const outcome = await buildDockerfile(store, {
      user: req.user, logger: req.logger, progress: req.progress, name: options.name, context,
      ...(options.fromUrl !== undefined ? { label: options.fromUrl } : {}),
      buildArgs: options.buildArgs ?? new Map(), dryRun: options.dryRun === true, noCache: options.noCache === true,
      ...signalOf(req),
      ...(epoch !== undefined && /^\d+$/.test(epoch) ? { epoch } : {}),
      registries: core.config.registries,
      publish: { registries: core.config.registries, env: core.env, logger: req.logger, progress: req.progress, idleTimeoutMs: core.idleTimeoutMs(), ...signalOf(req) },
    });
    const result = outcome.result;
    const check = result && isNodeImage(result.record) ? await checkImage(store, result.record) : undefined;
    const images = result ? result.refs.map(formatImageRef) : [formatImageRef(parseImageRef(options.name, req.user))];
    return { ...outcome, images, ...(check ? { check } : {}) };
  } finally {
    if (temp !== undefined) await removeTree(temp);
  }
}
