import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, pathExists, start, type Logger,
} from '../core/index.ts';
import { unpackLayers, type Descriptor, type ImageTree } from '../store/index.ts';
import type { RootfsCompression } from './manifest.ts';
import { createLayerRecords } from './squashfs-layers.ts';
import { writeSquashfsRoot } from './squashfs-rootfs.ts';

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
  /** gzip level of Kiln's SquashFS writer (1-9). */
  level: number;
  /** Where SquashFS block packs (earlier images, indexed by block content) and per-layer records are kept between exports (none: no cache). */
  squashfsCache?: { blocks: string; layers: string } | undefined;
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

/** Unpacks every layer (whiteouts applied) and adds empty mount points; returns the root. */
async function unpackRoot(source: RootfsSource, options: RootfsOptions): Promise<string> {
  const root = join(options.workDir, 'root');
  await mkdir(root);
  await unpackLayers(root, source.tree.layers, source.openLayer, options.signal);
  for (const dir of MOUNT_POINTS) {
    if (!(await pathExists(join(root, dir)))) await mkdir(join(root, dir), { mode: 0o755 });
  }
  return root;
}

/**
 * Writes the image's root filesystem as SquashFS or EROFS to `out`; returns the tool used.
 * The layers are unpacked by Kiln's extractor (everything resolved inside the root,
 * whiteouts applied), then given to mksquashfs (all cores) or mkfs.erofs. Streaming a
 * one-layer image into tar2sqfs would let a second tar parser decide what the image
 * holds; one parse decides everything (see the README's security section).
 */
export async function buildRootfs(source: RootfsSource, out: string, options: RootfsOptions): Promise<string> {
  if (options.type === 'squashfs' && options.compression === 'gzip') {
    const dirs = options.squashfsCache;
    await writeSquashfsRoot(source, out, {
      mountPoints: MOUNT_POINTS, level: options.level, blockCacheDir: dirs?.blocks,
      layers: dirs ? createLayerRecords(dirs.layers) : undefined, signal: options.signal, logger: options.logger,
    });
    return 'kiln';
  }
  const root = await unpackRoot(source, options);
  if (options.type === 'erofs') {
    const compressor = erofsCompressor(options.compression);
    await start('mkfs.erofs', ['--quiet', `-z${compressor}`, out, root], { signal: options.signal }).done;
    return 'mkfs.erofs';
  }
  const args = [root, out, '-noappend', '-comp', options.compression, '-processors', String(availableParallelism()), '-quiet', '-no-progress'];
  await start('mksquashfs', args, { signal: options.signal }).done;
  return 'mksquashfs';
}
