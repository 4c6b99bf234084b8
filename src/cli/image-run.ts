// What the `kiln image …` commands do once parsed; loaded only when one of them runs (the table is image-commands.ts).
import { KilnError, ErrorCode } from '../core/index.ts';
import { LABELS, formatImageRef, loadCheckFormat, shortImageName, type ImageView } from '../app/index.ts';
import type { Run, Values } from './command.ts';
import { formatDate, formatSize, renderTable } from './format.ts';

function parseLabels(values: Values): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of (values.label as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new KilnError(ErrorCode.USAGE, `invalid --label "${item}"`, { hint: 'use --label key=value, e.g. --label walt.node.models=rpi-b-plus,rpi-3-b' });
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

export const show: Run = async (ctx, _args, values) => {
  const { mine, others } = ctx.kiln.listImages(ctx.request(), { all: values.all === true });
  if (ctx.json) {
    ctx.out(JSON.stringify([...mine, ...others], null, 2));
    return;
  }
  if (values['names-only']) {
    for (const v of mine) ctx.out(v.name);
    for (const v of others) ctx.out(v.cloneUrl);
    return;
  }
  if (mine.length === 0 && others.length === 0) {
    ctx.out(values.all ? 'No node images in the store.' : 'You have no node images (kiln image import, or --all for other users\' images).');
    return;
  }
  const row = (v: ImageView): string[] => [v.name, v.inUse ? 'yes' : 'no', formatDate(v.created), formatSize(v.size), v.models.join(',')];
  if (mine.length > 0) ctx.out(renderTable(['Name', 'In-use', 'Created', 'Size', 'Compatibility'], mine.map(row)));
  if (others.length > 0) {
    if (mine.length > 0) ctx.out('');
    ctx.out('Images of other users:');
    ctx.out(renderTable(['Clone URL', 'Created', 'Size', 'Compatibility'], others.map((v) => [v.cloneUrl, formatDate(v.created), formatSize(v.size), v.models.join(',')])));
  }
};

export const inspect: Run = async (ctx, [name]) => {
  const { view, manifest, config } = await ctx.kiln.inspectImage(ctx.request(), name as string);
  if (ctx.json) {
    ctx.out(JSON.stringify({ ...view, manifest, config }, null, 2));
    return;
  }
  const p = view.platform;
  const lines = [
    `Name:          ${view.ref}`,
    `Clone URL:     ${view.cloneUrl}`,
    `Digest:        ${view.digest}`,
    `Created:       ${formatDate(view.created)}`,
    `Size:          ${formatSize(view.size)}`,
    `Platform:      ${[p.os, p.architecture, p.variant].filter(Boolean).join('/')}`,
    `Node models:   ${view.models.join(', ') || `(none: no ${LABELS.models} label, not a node image)`}`,
    'Labels:',
    ...Object.entries(view.labels).sort().map(([k, v]) => `  ${k}=${v}`),
    `Layers (${manifest.layers.length}):`,
    ...manifest.layers.map((l) => `  ${l.digest}  ${formatSize(l.size).padStart(8)}  ${l.mediaType}`),
  ];
  ctx.out(lines.join('\n'));
};

export const importCmd: Run = async (ctx, [path, name], values) => {
  const { view, format, check } = await ctx.kiln.importImage(ctx.request(), path as string, {
    name,
    format: typeof values.format === 'string' ? values.format : undefined,
    labels: parseLabels(values),
    selector: values.ref as string | undefined,
    platform: typeof values.platform === 'string' ? values.platform : undefined,
    force: values.force === true,
  });
  if (ctx.json) {
    ctx.out(JSON.stringify({ ...view, format, ...(check ? { check: { ok: check.ok, counts: check.counts } } : {}) }, null, 2));
  } else if (!ctx.quiet) {
    ctx.out(`Imported ${view.name} (${format}, ${formatSize(view.size)}, ${view.digest})`);
    if (check) ctx.out((await loadCheckFormat()).formatCheckSummary(check));
  }
};

export const exportCmd: Run = async (ctx, [name, dest], values) => {
  if (typeof values.format !== 'string') throw new KilnError(ErrorCode.USAGE, 'kiln image export needs --format', { hint: 'use --format oci, oci-archive, docker-archive, rootfs, squashfs, erofs or boot' });
  const outcome = await ctx.kiln.exportImage(ctx.request(), name as string, dest as string, {
    format: values.format,
    force: values.force === true,
    rootfs: values.rootfs as string | undefined,
    compression: values.compression as string | undefined,
    compressionLevel: values['compression-level'] as string | undefined,
    layout: values.layout as string | undefined,
    kernelVersion: values['kernel-version'] as string | undefined,
    baseUrl: values['base-url'] as string | undefined,
    append: values.append as string | undefined,
    s3Endpoint: values['s3-endpoint'] as string | undefined,
    createBucket: values['create-bucket'] === true,
  });
  if (outcome.kind === 'boot') {
    const { result, format } = outcome;
    if (ctx.json) ctx.out(JSON.stringify({ ref: result.image, digest: result.digest, dest, format, cached: result.cached, written: result.written, unchanged: result.unchanged, manifest: result.manifest }, null, 2));
    else if (!ctx.quiet) {
      for (const w of result.written) ctx.out(`wrote ${w}`);
      for (const u of result.unchanged) ctx.out(`unchanged ${u}`);
      ctx.out(`Exported ${result.image} to ${dest} (${format}${result.cached ? ', from the export cache' : ''})`);
    }
    return;
  }
  if (dest !== '-' && !ctx.quiet && !ctx.json) ctx.out(`Exported ${outcome.ref} to ${dest} (${outcome.format})`);
  if (ctx.json && dest !== '-') ctx.out(JSON.stringify({ ref: outcome.ref, digest: outcome.digest, dest, format: outcome.format }));
};

/** `kiln image duplicate|rename`. */
export function copy(verb: 'duplicate' | 'rename'): Run {
  return async (ctx, [from, to], values) => {
    const copyOne = verb === 'rename' ? ctx.kiln.renameImage : ctx.kiln.duplicateImage;
    const { source, view } = copyOne(ctx.request(), from as string, to as string, { force: values.force === true });
    if (ctx.json) ctx.out(JSON.stringify(view, null, 2));
    else if (!ctx.quiet) ctx.out(`${verb === 'rename' ? 'Renamed' : 'Duplicated'} ${formatImageRef(source)} to ${view.name}`);
  };
}

export const remove: Run = async (ctx, names) => {
  const removed = await ctx.kiln.removeImages(ctx.request(), names);
  if (ctx.json) ctx.out(JSON.stringify(removed.map(formatImageRef)));
  else if (!ctx.quiet) for (const ref of removed) ctx.out(`Removed ${shortImageName(ref)}`);
};
