import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { KilnError, ErrorCode, silentLogger, type Logger } from '../core/index.ts';
import { formatImageRef, type ImageRecord, type Store } from '../store/index.ts';
import { prepareArtifacts } from './build.ts';
import type { CachedFile } from './cache.ts';
import { BASE_URL_VAR, kernelParameters, renderIpxeScript } from './ipxe.ts';
import { renderManifest, type BootManifest, type ManifestArtifact, type RootfsCompression } from './manifest.ts';
import { archName, artifactNames, parseDestination, type ArtifactRole, type Layout } from './names.ts';
import { erofsCompressor } from './rootfs.ts';
import { boundSquashfsBlocks } from './squashfs-cache.ts';
import { DEFAULT_GZIP_LEVEL } from './squashfs-rootfs.ts';
import { createS3Sink, s3BaseUrl, s3Endpoint } from './s3.ts';
import { createDirSink, type ArtifactSink, type SinkItem } from './sink.ts';

/** Options of {@link exportBootArtifacts}; see `kiln image export --help`. */
export interface BootExportOptions {
  format: 'squashfs' | 'erofs' | 'boot';
  /** Root filesystem type of `boot` (default squashfs). */
  rootfs?: 'squashfs' | 'erofs' | undefined;
  compression?: RootfsCompression | undefined;
  /** gzip level of Kiln's SquashFS writer (default {@link DEFAULT_GZIP_LEVEL}); other compressors use their tool's default. */
  compressionLevel?: number | undefined;
  layout?: Layout | undefined;
  kernelVersion?: string | undefined;
  baseUrl?: string | undefined;
  /** Extra kernel parameters. */
  append?: string | undefined;
  s3Endpoint?: string | undefined;
  createBucket?: boolean | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** Bound of the SquashFS block cache in bytes (export_block_cache_size), enforced after an export that wrote blocks. */
  blockCacheBytes?: number | undefined;
  /** network_idle_timeout (ms) of S3 transfers. */
  idleTimeoutMs?: number | undefined;
}

/** What an export wrote. */
export interface BootExportResult {
  image: string;
  digest: string;
  /** True when the artifacts came from the export cache. */
  cached: boolean;
  written: string[];
  unchanged: string[];
  /** manifest.json's content for `boot`. */
  manifest?: BootManifest;
}

const CONTENT_TYPES: Record<ArtifactRole, string> = {
  rootfs: 'application/octet-stream', kernel: 'application/octet-stream', initramfs: 'application/octet-stream',
  manifest: 'application/json', ipxe: 'text/plain',
};

function textItem(key: string, role: ArtifactRole, text: string): SinkItem {
  return { key, contentType: CONTENT_TYPES[role], size: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), text };
}

/** Default compression: gzip for SquashFS (what mksquashfs and OpenCHAMI use, read by every kernel), lz4 for EROFS. */
function defaultCompression(rootfs: 'squashfs' | 'erofs'): RootfsCompression {
  return rootfs === 'erofs' ? 'lz4' : 'gzip';
}

/**
 * Exports an image's boot artifacts to a directory or `s3://bucket/prefix`: the root
 * filesystem (SquashFS or EROFS) and, for `boot`, the kernel, initramfs, manifest.json
 * and boot.ipxe, under OpenCHAMI's names, Kiln's, or both. Artifacts come from the
 * export cache when the image and options are unchanged; manifest.json and boot.ipxe
 * are written last, so they only ever name objects that are complete.
 */
export async function exportBootArtifacts(store: Store, record: ImageRecord, dest: string, options: BootExportOptions): Promise<BootExportResult> {
  const logger = options.logger ?? silentLogger;
  const env = options.env ?? process.env;
  const destination = parseDestination(dest);
  const rootfs = options.format === 'boot' ? (options.rootfs ?? 'squashfs') : options.format;
  const compression = options.compression ?? defaultCompression(rootfs);
  const layout = options.layout ?? 'both';
  const image = formatImageRef(record.ref);
  if (options.rootfs && options.format !== 'boot') throw new KilnError(ErrorCode.USAGE, '--rootfs goes with --format boot', { hint: 'use --format squashfs or --format erofs alone' });
  if (rootfs === 'erofs') erofsCompressor(compression);
  const endpoint = destination.kind === 's3' ? s3Endpoint(options.s3Endpoint, env) : undefined;
  // Open the destination before the long part: a missing bucket fails at once.
  const sink: ArtifactSink = destination.kind === 's3'
    ? await createS3Sink({ bucket: destination.bucket, endpoint, createBucket: options.createBucket === true, env, signal: options.signal, idleTimeoutMs: options.idleTimeoutMs })
    : createDirSink(destination.path);
  const artifacts = await prepareArtifacts(store, record, { format: options.format, rootfs, compression, compressionLevel: options.compressionLevel ?? DEFAULT_GZIP_LEVEL, kernelVersion: options.kernelVersion, signal: options.signal, logger });
  const { meta } = artifacts;
  if (!artifacts.cached && options.blockCacheBytes !== undefined && meta.tool === 'kiln') {
    const bound = await boundSquashfsBlocks(store.dirs.cacheDir('export'), options.blockCacheBytes);
    if (bound.removed > 0) logger.debug(`squashfs block packs: ${bound.removed} least recently used evicted, ${bound.bytes} bytes kept`);
  }
  if (layout !== 'kiln' && !meta.os.id) {
    throw new KilnError(ErrorCode.NOT_FOUND, `${image} has no ID in /etc/os-release, which OpenCHAMI's rootfs name needs`, { hint: 'use --layout kiln' });
  }
  const names = artifactNames(layout, {
    prefix: destination.kind === 's3' ? destination.prefix : '',
    name: record.ref.name, tag: record.ref.tag, arch: archName(record.platform), os: meta.os, rootfsType: rootfs,
    kernelFile: meta.kernelFile, initramfsFile: meta.initramfsFile,
  });
  const written: string[] = [];
  const unchanged: string[] = [];
  const put = async (item: SinkItem): Promise<void> => {
    const outcome = await sink.put(item);
    (outcome === 'written' ? written : unchanged).push(sink.describe(item.key));
    logger.debug(`${outcome}: ${sink.describe(item.key)}`);
  };
  const fileItems = (role: 'rootfs' | 'kernel' | 'initramfs', file: CachedFile | undefined): SinkItem[] =>
    file ? names[role].map((key) => ({ key, contentType: CONTENT_TYPES[role], size: file.size, sha256: file.sha256, file: join(artifacts.dir, file.file) })) : [];
  const files = [...fileItems('rootfs', meta.files.rootfs), ...fileItems('kernel', meta.files.kernel), ...fileItems('initramfs', meta.files.initramfs)];
  // Two at a time: each S3 upload is itself parallel; directories are links or copies.
  for (let i = 0; i < files.length; i += 2) await Promise.all(files.slice(i, i + 2).map(put));
  written.sort();
  unchanged.sort();
  const result: BootExportResult = { image, digest: record.manifestDigest, cached: artifacts.cached, written, unchanged };
  if (options.format !== 'boot') return result;

  const baseUrl = options.baseUrl ?? (destination.kind === 's3' ? s3BaseUrl(destination.bucket, endpoint, env) : undefined);
  const [rootfsKey] = names.rootfs as [string];
  const initramfs = meta.initramfs ?? { kind: 'unknown' as const, warnings: [] };
  if (initramfs.kind === 'live-boot' && !rootfsKey.endsWith('.squashfs')) {
    logger.warn(`live-boot fetches only SquashFS files whose URL ends in .squashfs: ${rootfsKey} will not boot with it; use --layout both or kiln, and SquashFS`);
  }
  const params = kernelParameters(initramfs.kind, `${BASE_URL_VAR}${rootfsKey}`, options.append);
  const describe = (role: 'rootfs' | 'kernel' | 'initramfs', file: CachedFile | undefined): ManifestArtifact[] =>
    file ? [{ role, names: names[role], size: file.size, sha256: file.sha256, ...(file.source ? { source: file.source } : {}) }] : [];
  const ipxe = renderIpxeScript({ image, digest: record.manifestDigest, baseUrl, kernel: names.kernel[0] as string, initramfs: names.initramfs[0] as string, params });
  const ipxeItems = names.ipxe.map((key) => textItem(key, 'ipxe', ipxe));
  const manifest: BootManifest = {
    schemaVersion: 1,
    image,
    digest: record.manifestDigest,
    architecture: archName(record.platform),
    os: meta.os,
    kernelVersion: meta.kernelVersion ?? '',
    initramfs: initramfs.kind,
    rootfs: { type: rootfs, compression },
    baseUrl: baseUrl ?? null,
    kernelParameters: baseUrl === undefined ? null : params.split(BASE_URL_VAR).join(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`),
    kernelParametersTemplate: params,
    artifacts: [
      ...describe('rootfs', meta.files.rootfs), ...describe('kernel', meta.files.kernel), ...describe('initramfs', meta.files.initramfs),
      { role: 'ipxe', names: names.ipxe, size: ipxeItems[0]?.size ?? 0, sha256: ipxeItems[0]?.sha256 ?? '' },
    ],
  };
  for (const item of ipxeItems) await put(item);
  for (const key of names.manifest) await put(textItem(key, 'manifest', renderManifest(manifest)));
  return { ...result, manifest };
}
