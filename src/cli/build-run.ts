// What `kiln image build` does once parsed; loaded only when one of them runs (the table is build-commands.ts).
import { loadCheckFormat, loadPlanFormat, shortImageName } from '../app/index.ts';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { Run } from './command.ts';
import { untilStopped } from './signals.ts';

export const build: Run = async (ctx, files, values) => {
  if (values['from-dir'] !== undefined || values['from-url'] !== undefined) {
    await buildFromDockerfile(ctx, files, values);
    return;
  }
  // Ctrl-C stops the running step; the build then unmounts and cleans up before exiting.
  return untilStopped(async (signal) => {
    const outcomes = await ctx.kiln.buildImages(ctx.request(signal), files, {
      dryRun: values['dry-run'] === true, noCache: values['no-cache'] === true, force: values.force === true,
      logLevel: typeof values['log-level'] === 'string' ? values['log-level'] : undefined,
      allowHostPaths: Array.isArray(values['allow-host-path']) ? values['allow-host-path'] : [],
    });
    const json = [];
    for (const { spec, plan, images, result, check, published } of outcomes) {
      json.push({
        spec,
        images,
        digest: result?.record.manifestDigest,
        steps: (result?.steps ?? plan.steps).map((s) => ({
          index: s.index, name: s.name, key: s.key, cached: s.cached, ...('digest' in s ? { layer: s.digest } : {}), ...('hostFiles' in s && s.hostFiles ? { copies: s.hostFiles } : {}),
        })),
        ...(check ? { check: { ok: check.ok, counts: check.counts } } : {}),
        ...(published ? { published } : {}),
      });
      if (ctx.json || ctx.quiet) continue;
      if (!result) {
        ctx.out((await loadPlanFormat())(plan));
        continue;
      }
      const ran = result.steps.filter((s) => !s.cached).length;
      ctx.out(`Built ${result.refs.map(shortImageName).join(', ')} (${result.record.manifestDigest}): ${ran} step${ran === 1 ? '' : 's'} run, ${result.steps.length - ran} cached`);
      if (check) ctx.out((await loadCheckFormat()).formatCheckSummary(check));
      for (const ref of published?.registry ?? []) ctx.out(`Pushed ${ref}`);
      if (published && published.s3.length > 0) ctx.out(`Uploaded ${published.s3.length} objects to S3: ${published.s3.join(', ')}`);
    }
    if (ctx.json) ctx.out(JSON.stringify(json, null, 2));
  });
};

/** `kiln image build <name> --from-dir|--from-url`: a Dockerfile build (WalT's options). */
const buildFromDockerfile: Run = async (ctx, names, values) => {
  if (names.length !== 1) throw new KilnError(ErrorCode.USAGE, 'a Dockerfile build takes one image name: kiln image build <name> --from-dir <dir>');
  const buildArgs = new Map<string, string>();
  for (const pair of Array.isArray(values['build-arg']) ? values['build-arg'] : []) {
    const eq = String(pair).indexOf('=');
    if (eq <= 0) throw new KilnError(ErrorCode.USAGE, `--build-arg ${String(pair)}: expected name=value`);
    buildArgs.set(String(pair).slice(0, eq), String(pair).slice(eq + 1));
  }
  return untilStopped(async (signal) => {
    const outcome = await ctx.kiln.buildDockerfile(ctx.request(signal), {
      name: names[0] as string, buildArgs, dryRun: values['dry-run'] === true, noCache: values['no-cache'] === true,
      ...(typeof values['from-dir'] === 'string' ? { fromDir: values['from-dir'] } : {}),
      ...(typeof values['from-url'] === 'string' ? { fromUrl: values['from-url'] } : {}),
    });
    const steps = outcome.result?.steps ?? outcome.needed.flatMap((i) => outcome.stages[i]?.steps ?? []).map((s, i) => ({ index: i + 1, name: s.name, key: s.key, cached: s.cached === true }));
    if (ctx.json) {
      ctx.out(JSON.stringify({ dockerfile: outcome.file, images: outcome.images, digest: outcome.result?.record.manifestDigest, steps, ...(outcome.check ? { check: { ok: outcome.check.ok, counts: outcome.check.counts } } : {}) }, null, 2));
      return;
    }
    if (ctx.quiet) return;
    if (!outcome.result) {
      ctx.out(`${outcome.file}: ${outcome.images.join(', ')}, ${steps.length} step${steps.length === 1 ? '' : 's'}`);
      for (const s of steps) ctx.out(`  ${s.cached ? 'cached' : 'run   '}  ${s.index}/${steps.length} ${s.name}`);
      return;
    }
    const ran = steps.filter((s) => !s.cached).length;
    ctx.out(`Built ${outcome.result.refs.map(shortImageName).join(', ')} (${outcome.result.record.manifestDigest}): ${ran} step${ran === 1 ? '' : 's'} run, ${steps.length - ran} cached`);
    if (outcome.check) ctx.out((await loadCheckFormat()).formatCheckSummary(outcome.check));
  });
};
