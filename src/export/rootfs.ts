import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  KilnError, ErrorCode, createDecompressor, encodeDirectoryHeader, isErrno, layerCompression, pathExists, start, type Logger,
} from '../core/index.ts';
import { unpackLayers, type Descriptor, type ImageTree } from '../store/index.ts';
import type { RootfsCompression } from './manifest.ts';

/** Mount points a live initramfs needs in the root filesystem (it mounts proc, sys, dev and run onto them). */
export const MOUNT_POINTS: readonly string[] = ['proc', 'sys', 'dev', 'run'];

/** What a root filesystem image is made from. */
export interface RootfsSource {
  tree: ImageTree;
  openLayer: (layer: Descriptor) => Readable;
}

/** How to make it. */
export interface RootfsOptions {
  type: 'squashfs' | 'erofs';
  compression: RootfsCompression;
  /** A private directory for unpacking (removed by the caller). */
  workDir: string;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/** EROFS compressors of erofs-utils, by `--compression` value. */
const EROFS_COMPRESSORS: Partial<Record<RootfsCompression, string>> = { lz4: 'lz4hc', xz: 'lzma' };

/** The mkfs.erofs compressor for a `--compression` value, or UNSUPPORTED. */
export function erofsCompressor(compression: RootfsCompression): string {
  const compressor = EROFS_COMPRESSORS[compression];
  if (compressor) return compressor;
  throw new KilnError(ErrorCode.UNSUPPORTED, `EROFS cannot be compressed with ${compression}`, {
    hint: 'use --compression lz4 (lz4hc) or xz (lzma, when mkfs.erofs was built with it) for EROFS, or --rootfs squashfs',
  });
}

function decompressedLayer(layer: Descriptor, stream: Readable): Readable {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  if (compression === 'none') return stream;
  const out = stream.pipe(createDecompressor(compression));
  stream.on('error', (err) => out.destroy(err));
  return out;
}

/** The mount points the image lacks, as tar directory entries to put before its layer. */
function missingMountPoints(tree: ImageTree): Buffer {
  const missing = MOUNT_POINTS.filter((dir) => !tree.get(dir));
  return Buffer.concat(missing.map((dir) => encodeDirectoryHeader(`./${dir}/`)));
}

/**
 * SquashFS of a one-layer image without unpacking: the layer's tar streams into
 * tar2sqfs (squashfs-tools-ng), preceded by directory entries for missing mount points.
 * tar2sqfs keeps owners, modes, xattrs (file capabilities), devices and hardlinks.
 */
async function streamSquashfs(source: RootfsSource, layer: Descriptor, out: string, options: RootfsOptions): Promise<void> {
  const args = ['--compressor', options.compression, '--num-jobs', String(availableParallelism()), '--quiet', '--force',
    '--defaults', 'mode=0755', out];
  const tool = start('tar2sqfs', args, { stdin: 'pipe', signal: options.signal });
  const stdin = tool.child.stdin;
  if (!stdin) throw new KilnError(ErrorCode.TOOL_FAILED, 'tar2sqfs has no stdin');
  const head = missingMountPoints(source.tree);
  const feed = new PassThrough();
  feed.write(head);
  const layerStream = decompressedLayer(layer, source.openLayer(layer));
  // tar2sqfs stops reading at the end-of-archive blocks; an EPIPE after that is not an error.
  stdin.on('error', (err) => {
    if (!isErrno(err, 'EPIPE')) feed.destroy(err);
  });
  const fed = pipeline(layerStream, feed, stdin, { signal: options.signal }).catch((err: unknown) => {
    if (!isErrno(err, 'EPIPE')) throw err;
  });
  // The tool's own message says more than the broken pipe its failure causes.
  const [fedResult, toolResult] = await Promise.allSettled([fed, tool.done]);
  if (toolResult.status === 'rejected') throw toolResult.reason;
  if (fedResult.status === 'rejected') throw fedResult.reason;
}

/** Unpacks every layer (whiteouts applied) and adds empty mount points; returns the root. */
async function unpackRoot(source: RootfsSource, options: RootfsOptions): Promise<string> {
  const root = join(options.workDir, 'root');
  await mkdir(root);
  await unpackLayers(root, source.tree.layers, source.openLayer);
  for (const dir of MOUNT_POINTS) {
    if (!(await pathExists(join(root, dir)))) await mkdir(join(root, dir), { mode: 0o755 });
  }
  return root;
}

/**
 * Writes the image's root filesystem as SquashFS or EROFS to `out`; returns the tool used.
 * One-layer images stream into tar2sqfs (measured faster than unpacking for mksquashfs,
 * see the README); several layers must be merged first, so they are unpacked with their
 * whiteouts and given to mksquashfs (all cores). EROFS: erofs-utils 1.5 (Debian 12)
 * reads only directories, so the image is unpacked for mkfs.erofs.
 */
export async function buildRootfs(source: RootfsSource, out: string, options: RootfsOptions): Promise<string> {
  const layers = source.tree.layers;
  if (options.type === 'erofs') {
    const compressor = erofsCompressor(options.compression);
    const root = await unpackRoot(source, options);
    await start('mkfs.erofs', ['--quiet', `-z${compressor}`, out, root], { signal: options.signal }).done;
    return 'mkfs.erofs';
  }
  const [only] = layers;
  // tar2sqfs 1.2 (Debian 12) writes lz4 images that unsquashfs cannot read: lz4 goes to mksquashfs.
  if (layers.length === 1 && only && options.compression !== 'lz4') {
    await streamSquashfs(source, only, out, options);
    return 'tar2sqfs';
  }
  const root = await unpackRoot(source, options);
  const args = [root, out, '-noappend', '-comp', options.compression, '-processors', String(availableParallelism()), '-quiet', '-no-progress'];
  await start('mksquashfs', args, { signal: options.signal }).done;
  return 'mksquashfs';
}
