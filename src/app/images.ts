import {
  LABELS, exportImage, formatImageRef, importImage, parseImageFormat, parseImageRef, parseOwnImageRef, parsePlatform, shortImageName,
  type ImageFormat, type ImageRef,
} from '../store/index.ts';
import { BOOT_FORMATS, COMPRESSIONS, exportBootArtifacts, parseChoice, parseCompressionLevel, parseLayout, type BootExportResult } from '../export/index.ts';
import { checkImage, type CheckReport } from '../check/index.ts';
import type { Core } from './core.ts';
import { signalOf, type Resolved } from './request.ts';
import { exportBlockCacheBytes } from './maintenance.ts';
import { inUseOf } from './usage.ts';
import { imageView, isNodeImage, type ImageView } from './view.ts';

/** What `importImage` needs besides the path. */
export interface ImportRequest {
  name?: string | undefined;
  /** oci | oci-archive | docker-archive | rootfs; detected when absent. */
  format?: string | undefined;
  labels?: Record<string, string>;
  selector?: string | undefined;
  /** `os/arch[/variant]`. */
  platform?: string | undefined;
  force?: boolean;
}

/** Imports an image under the user's name; node images get the bootability verdict at once. */
export async function importOne(core: Core, req: Resolved, path: string, options: ImportRequest): Promise<{ view: ImageView; format: ImageFormat; check?: CheckReport }> {
  const store = core.store();
  const { record, format } = await importImage(store, path, {
    user: req.user,
    name: options.name,
    format: options.format !== undefined ? parseImageFormat(options.format) : undefined,
    labels: options.labels ?? {},
    selector: options.selector,
    platform: options.platform !== undefined ? parsePlatform(options.platform) : undefined,
    force: options.force === true,
    progress: req.progress,
    ...signalOf(req),
  });
  // The check also warms the layer index cache for later checks and exports.
  const check = isNodeImage(record) ? await checkImage(store, record) : undefined;
  if (!check) {
    req.logger.warn(
      `${formatImageRef(record.ref)} has no label ${LABELS.models}: it is not a node image, so \`kiln image show\` leaves it out. ` +
        `Add it with: kiln image import ${path} ${shortImageName(record.ref)} --force --label ${LABELS.models}=<model>[,<model>...]`,
    );
  }
  return { view: imageView(record, req.user, inUseOf(core.usage())(record.ref)), format, ...(check ? { check } : {}) };
}

/** Options of `exportOne`, as a user gives them (strings are validated here). */
export interface ExportRequest {
  format: string;
  force?: boolean;
  rootfs?: string | undefined;
  compression?: string | undefined;
  /** gzip level 1-9 of SquashFS (default: the export_compression_level setting). */
  compressionLevel?: string | undefined;
  layout?: string | undefined;
  kernelVersion?: string | undefined;
  baseUrl?: string | undefined;
  append?: string | undefined;
  s3Endpoint?: string | undefined;
  createBucket?: boolean;
}

/** What an export wrote: boot artifacts, or an image in an OCI/docker/rootfs form. */
export type ExportOutcome =
  | { kind: 'boot'; format: (typeof BOOT_FORMATS)[number]; result: BootExportResult }
  | { kind: 'image'; format: ImageFormat; ref: string; digest: string };

/** Writes an image out: boot artifacts (to a directory or S3) or an image archive/layout. */
export async function exportOne(core: Core, req: Resolved, name: string, dest: string, options: ExportRequest): Promise<ExportOutcome> {
  const store = core.store();
  const bootFormat = BOOT_FORMATS.find((f) => f === options.format);
  if (bootFormat) {
    const record = store.getImage(parseImageRef(name, req.user, { allowReserved: true }));
    const result = await exportBootArtifacts(store, record, dest, {
      format: bootFormat,
      rootfs: parseChoice(['squashfs', 'erofs'] as const, options.rootfs, 'rootfs'),
      compression: parseChoice(COMPRESSIONS, options.compression, 'compression'),
      compressionLevel: parseCompressionLevel(options.compressionLevel) ?? parseCompressionLevel(core.config.values.export_compression_level, 'export_compression_level'),
      blockCacheBytes: exportBlockCacheBytes(core),
      layout: parseLayout(options.layout),
      kernelVersion: options.kernelVersion,
      baseUrl: options.baseUrl,
      append: options.append,
      s3Endpoint: options.s3Endpoint,
      createBucket: options.createBucket === true,
      env: core.env,
      logger: req.logger,
      idleTimeoutMs: core.idleTimeoutMs(),
      ...signalOf(req),
    });
    return { kind: 'boot', format: bootFormat, result };
  }
  const format = parseImageFormat(options.format);
  const record = store.getImage(parseImageRef(name, req.user, { allowReserved: true }));
  await exportImage(store, record, dest, format, { force: options.force === true, ...signalOf(req) });
  return { kind: 'image', format, ref: formatImageRef(record.ref), digest: record.manifestDigest };
}

/** Removes images of the user's; their blobs go when no other image needs them. */
export async function removeImages(core: Core, req: Resolved, names: readonly string[]): Promise<ImageRef[]> {
  const removed = await core.store().remove(names.map((n) => parseOwnImageRef(n, req.user)));
  return removed.map((r) => r.ref);
}

/** The bootability report of any image, for its models or the ones given. */
export async function checkOne(core: Core, req: Resolved, name: string, models: readonly string[]): Promise<CheckReport> {
  const store = core.store();
  const record = store.getImage(parseImageRef(name, req.user, { allowReserved: true }));
  return checkImage(store, record, { models });
}
