import { buildImages, type BuildPlan, type BuildResult } from '../builder/index.ts';
import { checkImage, type CheckReport } from '../check/index.ts';
import { formatImageRef } from '../store/index.ts';
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
