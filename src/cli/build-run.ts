// What `kiln image build` do once parsed; loaded only when one of them runs (the table is build-commands.ts).
import { loadCheckFormat, loadPlanFormat, shortImageName } from '../app/index.ts';
import type { Run } from './command.ts';

export const build: Run = async (ctx, files, values) => {
  // Ctrl-C stops the running step; the build then unmounts and cleans up before exiting.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const outcomes = await ctx.kiln.buildImages(ctx.request(abort.signal), files, {
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
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};
