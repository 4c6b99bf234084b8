import { KilnError, ErrorCode } from '../core/index.ts';
import {
  LABELS, labelModels, exportImage, formatImageRef, importImage, parseImageFormat, parseImageRef, parsePlatform, shortImageName, waltCloneUrl,
  type ImageRecord, type ImageRef,
} from '../store/index.ts';
import { BOOT_FORMATS, COMPRESSIONS, exportBootArtifacts, parseChoice, parseLayout } from '../export/index.ts';
import { checkImage, formatCheckSummary } from '../check/index.ts';
import type { Command, Values } from './command.ts';
import type { Context } from './context.ts';
import { formatDate, formatSize, renderTable } from './format.ts';


function isNodeImage(record: ImageRecord): boolean {
  return labelModels(record.labels).length > 0;
}

/** The JSON view of an image shared by show and inspect. */
function imageJson(ctx: Context, record: ImageRecord): Record<string, unknown> {
  const own = record.ref.user === ctx.store().user;
  return {
    name: own ? shortImageName(record.ref) : formatImageRef(record.ref),
    ref: formatImageRef(record.ref),
    user: record.ref.user,
    image: record.ref.name,
    tag: record.ref.tag,
    created: record.created,
    size: record.size,
    models: labelModels(record.labels),
    inUse: false,
    cloneUrl: waltCloneUrl(record.ref),
    digest: record.manifestDigest,
    platform: record.platform,
    labels: record.labels,
  };
}

function ownRef(ctx: Context, text: string): ImageRef {
  const ref = parseImageRef(text, ctx.store().user);
  if (ref.user !== ctx.store().user) {
    throw new KilnError(ErrorCode.INVALID_NAME, `${formatImageRef(ref)} belongs to ${ref.user}, not to you (${ctx.store().user})`, {
      hint: `copy it first: kiln image duplicate ${formatImageRef(ref)} <name>`,
    });
  }
  return ref;
}

function anyRef(ctx: Context, text: string): ImageRef {
  return parseImageRef(text, ctx.store().user, { allowReserved: true });
}

function parseLabels(values: Values): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of (values.label as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new KilnError(ErrorCode.USAGE, `invalid --label "${item}"`, { hint: 'use --label key=value, e.g. --label walt.node.models=rpi-b-plus,rpi-3-b' });
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

function warnIfNotNodeImage(ctx: Context, record: ImageRecord, path?: string): void {
  if (isNodeImage(record)) return;
  ctx.logger.warn(
    `${formatImageRef(record.ref)} has no label ${LABELS.models}: it is not a node image, so \`kiln image show\` leaves it out. ` +
      `Add it with: kiln image import ${path ?? '<path>'} ${shortImageName(record.ref)} --force --label ${LABELS.models}=<model>[,<model>...]`,
  );
}

const show: Command = {
  path: ['image', 'show'],
  usage: 'kiln image show [--all] [--names-only] [--json]',
  summary: 'list your node images (--all: other users\' too, with their clone link)',
  options: { all: { type: 'boolean' }, 'names-only': { type: 'boolean' } },
  positionals: [0, 0],
  run: async (ctx, _args, values) => {
    const store = ctx.store();
    const images = store.listImages().filter(isNodeImage);
    const mine = images.filter((i) => i.ref.user === store.user);
    const others = values.all ? images.filter((i) => i.ref.user !== store.user) : [];
    if (ctx.json) {
      ctx.out(JSON.stringify([...mine, ...others].map((r) => imageJson(ctx, r)), null, 2));
      return;
    }
    if (values['names-only']) {
      for (const r of mine) ctx.out(shortImageName(r.ref));
      for (const r of others) ctx.out(waltCloneUrl(r.ref));
      return;
    }
    if (mine.length === 0 && others.length === 0) {
      ctx.out(values.all ? 'No node images in the store.' : 'You have no node images (kiln image import, or --all for other users\' images).');
      return;
    }
    const row = (r: ImageRecord): string[] => [shortImageName(r.ref), 'no', formatDate(r.created), formatSize(r.size), labelModels(r.labels).join(',')];
    if (mine.length > 0) ctx.out(renderTable(['Name', 'In-use', 'Created', 'Size', 'Compatibility'], mine.map(row)));
    if (others.length > 0) {
      if (mine.length > 0) ctx.out('');
      ctx.out('Images of other users:');
      ctx.out(renderTable(['Clone URL', 'Created', 'Size', 'Compatibility'], others.map((r) => [waltCloneUrl(r.ref), formatDate(r.created), formatSize(r.size), labelModels(r.labels).join(',')])));
    }
  },
};

const inspect: Command = {
  path: ['image', 'inspect'],
  usage: 'kiln image inspect <image> [--json]',
  summary: 'show an image\'s name, digest, platform, labels and layers',
  options: {},
  positionals: [1, 1],
  run: async (ctx, [name]) => {
    const store = ctx.store();
    const record = store.getImage(anyRef(ctx, name as string));
    const manifest = await store.readManifest(record.manifestDigest);
    const config = await store.readConfig(manifest);
    if (ctx.json) {
      ctx.out(JSON.stringify({ ...imageJson(ctx, record), manifest, config }, null, 2));
      return;
    }
    const p = record.platform;
    const lines = [
      `Name:          ${formatImageRef(record.ref)}`,
      `Clone URL:     ${waltCloneUrl(record.ref)}`,
      `Digest:        ${record.manifestDigest}`,
      `Created:       ${formatDate(record.created)}`,
      `Size:          ${formatSize(record.size)}`,
      `Platform:      ${[p.os, p.architecture, p.variant].filter(Boolean).join('/')}`,
      `Node models:   ${labelModels(record.labels).join(', ') || `(none: no ${LABELS.models} label, not a node image)`}`,
      'Labels:',
      ...Object.entries(record.labels).sort().map(([k, v]) => `  ${k}=${v}`),
      `Layers (${manifest.layers.length}):`,
      ...manifest.layers.map((l) => `  ${l.digest}  ${formatSize(l.size).padStart(8)}  ${l.mediaType}`),
    ];
    ctx.out(lines.join('\n'));
  },
};

const importCmd: Command = {
  path: ['image', 'import'],
  usage: 'kiln image import <path> [<name>] [--format oci|oci-archive|docker-archive|rootfs] [--label k=v]... [--ref <name>] [--platform os/arch[/variant]] [--force]',
  summary: 'bring an image in from an OCI layout or archive, a docker-archive, or a root filesystem tarball',
  options: {
    format: { type: 'string' },
    label: { type: 'string', multiple: true },
    ref: { type: 'string' },
    platform: { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: [1, 2],
  run: async (ctx, [path, name], values) => {
    const store = ctx.store();
    const { record, format } = await importImage(store, path as string, {
      name,
      format: typeof values.format === 'string' ? parseImageFormat(values.format) : undefined,
      labels: parseLabels(values),
      selector: values.ref as string | undefined,
      platform: typeof values.platform === 'string' ? parsePlatform(values.platform) : undefined,
      force: values.force === true,
    });
    // Node images get the bootability verdict at once (and warm the layer index cache).
    const check = isNodeImage(record) ? await checkImage(store, record) : undefined;
    if (ctx.json) {
      ctx.out(JSON.stringify({ ...imageJson(ctx, record), format, ...(check ? { check: { ok: check.ok, counts: check.counts } } : {}) }, null, 2));
    } else if (!ctx.quiet) {
      ctx.out(`Imported ${shortImageName(record.ref)} (${format}, ${formatSize(record.size)}, ${record.manifestDigest})`);
      if (check) ctx.out(formatCheckSummary(check));
    }
    warnIfNotNodeImage(ctx, record, path);
  },
};

const exportCmd: Command = {
  path: ['image', 'export'],
  usage: 'kiln image export <image> <dest> --format oci|oci-archive|docker-archive|rootfs|squashfs|erofs|boot [--force] ' +
    '[--rootfs squashfs|erofs] [--compression gzip|xz|zstd|lzo|lz4] [--layout both|kiln|openchami] [--kernel-version V] ' +
    '[--base-url URL] [--append "params"] [--s3-endpoint URL] [--create-bucket]   (dest: a path, "-", or for squashfs|erofs|boot a directory or s3://bucket/prefix)',
  summary: 'write an image out as an OCI layout or archive, a docker-archive, its root filesystem as tar, or boot artifacts (SquashFS/EROFS, kernel, initramfs, manifest.json, boot.ipxe) to a directory or S3',
  options: {
    format: { type: 'string' }, force: { type: 'boolean' }, rootfs: { type: 'string' }, compression: { type: 'string' }, layout: { type: 'string' },
    'kernel-version': { type: 'string' }, 'base-url': { type: 'string' }, append: { type: 'string' }, 's3-endpoint': { type: 'string' }, 'create-bucket': { type: 'boolean' },
  },
  positionals: [2, 2],
  run: async (ctx, [name, dest], values) => {
    if (typeof values.format !== 'string') throw new KilnError(ErrorCode.USAGE, 'kiln image export needs --format', { hint: 'use --format oci, oci-archive, docker-archive, rootfs, squashfs, erofs or boot' });
    const store = ctx.store();
    const bootFormat = BOOT_FORMATS.find((f) => f === values.format);
    if (bootFormat) {
      const record = store.getImage(anyRef(ctx, name as string));
      const result = await exportBootArtifacts(store, record, dest as string, {
        format: bootFormat,
        rootfs: parseChoice(['squashfs', 'erofs'] as const, values.rootfs, 'rootfs'),
        compression: parseChoice(COMPRESSIONS, values.compression, 'compression'),
        layout: parseLayout(values.layout as string | undefined),
        kernelVersion: values['kernel-version'] as string | undefined,
        baseUrl: values['base-url'] as string | undefined,
        append: values.append as string | undefined,
        s3Endpoint: values['s3-endpoint'] as string | undefined,
        createBucket: values['create-bucket'] === true,
        logger: ctx.logger,
        idleTimeoutMs: ctx.idleTimeoutMs(),
      });
      if (ctx.json) ctx.out(JSON.stringify({ ref: result.image, digest: result.digest, dest, format: bootFormat, cached: result.cached, written: result.written, unchanged: result.unchanged, manifest: result.manifest }, null, 2));
      else if (!ctx.quiet) {
        for (const w of result.written) ctx.out(`wrote ${w}`);
        for (const u of result.unchanged) ctx.out(`unchanged ${u}`);
        ctx.out(`Exported ${result.image} to ${dest} (${bootFormat}${result.cached ? ', from the export cache' : ''})`);
      }
      return;
    }
    const format = parseImageFormat(values.format);
    const record = store.getImage(anyRef(ctx, name as string));
    await exportImage(store, record, dest as string, format, { force: values.force === true });
    if (dest !== '-' && !ctx.quiet && !ctx.json) ctx.out(`Exported ${formatImageRef(record.ref)} to ${dest} (${format})`);
    if (ctx.json && dest !== '-') ctx.out(JSON.stringify({ ref: formatImageRef(record.ref), digest: record.manifestDigest, dest, format }));
  },
};

function copyCommand(verb: 'duplicate' | 'rename'): Command {
  return {
    path: ['image', verb],
    usage: `kiln image ${verb} <image> <new-name> [--force]`,
    summary: verb === 'duplicate' ? 'copy an image under a new name (no data is copied)' : 'give one of your images a new name',
    options: { force: { type: 'boolean' } },
    positionals: [2, 2],
    run: async (ctx, [from, to], values) => {
      const store = ctx.store();
      const source = verb === 'rename' ? ownRef(ctx, from as string) : anyRef(ctx, from as string);
      const target = ownRef(ctx, to as string);
      const record = verb === 'rename' ? store.rename(source, target, { force: values.force === true }) : store.duplicate(source, target, { force: values.force === true });
      if (ctx.json) ctx.out(JSON.stringify(imageJson(ctx, record), null, 2));
      else if (!ctx.quiet) ctx.out(`${verb === 'rename' ? 'Renamed' : 'Duplicated'} ${formatImageRef(source)} to ${shortImageName(target)}`);
    },
  };
}

const remove: Command = {
  path: ['image', 'remove'],
  usage: 'kiln image remove <image>...',
  summary: 'remove images; their blobs go when no other image needs them',
  options: {},
  positionals: [1, Infinity],
  run: async (ctx, names) => {
    const store = ctx.store();
    const removed = await store.remove(names.map((n) => ownRef(ctx, n)));
    if (ctx.json) ctx.out(JSON.stringify(removed.map((r) => formatImageRef(r.ref))));
    else if (!ctx.quiet) for (const r of removed) ctx.out(`Removed ${shortImageName(r.ref)}`);
  },
};

/** The `kiln image …` commands. */
export const IMAGE_COMMANDS: readonly Command[] = [show, inspect, importCmd, exportCmd, copyCommand('duplicate'), copyCommand('rename'), remove];
