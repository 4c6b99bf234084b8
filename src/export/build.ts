import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import {
  KilnError, ErrorCode, isErrno, removeTree, type Logger,
} from '../core/index.ts';
import { formatImageRef, readTreeFiles, type ImageRecord, type ImageTree, type Store } from '../store/index.ts';
import { commitCache, describeFile, readCache, type CacheMeta, type CachedFile } from './cache.ts';
import { extractFiles } from './extract.ts';
import { detectInitramfs } from './ipxe.ts';
import { chooseBootPair, findBootPairs } from './kernel.ts';
import { exportCacheKey, type RootfsCompression } from './manifest.ts';
import { parseOsRelease, type OsRelease } from './names.ts';
import { buildRootfs } from './rootfs.ts';
import { OS_RELEASE as OS_RELEASE_DIR, squashfsCacheDirs } from './squashfs-cache.ts';
import { BLOCK_SIZE } from './squashfs-rootfs.ts';

/** What to make from an image. */
export interface BuildOptions {
  format: 'squashfs' | 'erofs' | 'boot';
  rootfs: 'squashfs' | 'erofs';
  compression: RootfsCompression;
  /** gzip level of Kiln's SquashFS writer (1-9). */
  compressionLevel: number;
  kernelVersion?: string | undefined;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/** A cache entry ready to be written out: its directory and what it holds. */
export interface Artifacts {
  dir: string;
  meta: CacheMeta;
  /** True when the entry was already there. */
  cached: boolean;
}

/** Regular files directly in a directory of the image (the directory itself may be a symlink). */
function filesIn(tree: ImageTree, dir: string): string[] {
  const r = tree.resolve(dir);
  if (!r.ok) return [];
  return tree.children(r.path).filter((e) => e.type === 'file' || e.type === 'hardlink').map((e) => posix.basename(e.path));
}

/** Kernel versions with /usr/lib/modules/<v>/vmlinuz (EL, Fedora). */
function moduleKernels(tree: ImageTree): string[] {
  const r = tree.resolve('usr/lib/modules');
  if (!r.ok) return [];
  return tree.children(r.path).filter((e) => e.type === 'directory' && tree.get(`${e.path}/vmlinuz`)?.type === 'file').map((e) => posix.basename(e.path));
}

/**
 * The image's os-release, remembered per (layer, member offset) in `cacheDir`, so that an
 * export of a child image whose os-release comes from its parent does not read the parent's layer.
 */
async function readOsRelease(store: Store, tree: ImageTree, cacheDir: string): Promise<{ os: OsRelease; remember: () => Promise<void> }> {
  const none = async (): Promise<void> => undefined;
  for (const path of ['etc/os-release', 'usr/lib/os-release']) {
    const r = tree.resolve(path);
    const layer = r.ok && r.entry?.type === 'file' ? tree.layers[r.entry.layer] : undefined;
    const file = layer && r.ok && r.entry ? join(cacheDir, `${layer.digest.slice(layer.digest.indexOf(':') + 1)}-${r.entry.offset}`) : undefined;
    if (file) {
      const known = await readFile(file, 'utf8').catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
      if (known !== undefined) return { os: parseOsRelease(known), remember: none };
    }
    const content = (await readTreeFiles(tree, [path], store.layerSource, 64 << 10)).get(path);
    if (content?.ok) {
      // Remembered once the export succeeded: a failed one leaves nothing in the cache.
      const remember = async (): Promise<void> => {
        if (!file) return;
        await mkdir(cacheDir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, content.data);
        await rename(tmp, file);
      };
      return { os: parseOsRelease(content.data.toString('utf8')), remember };
    }
  }
  return { os: { id: '', versionId: '' }, remember: none };
}

/**
 * Returns the artifacts of an image from the export cache (the store's `export` cache directory, `<key>/`),
 * making them first when absent: the root filesystem image and, for `boot`, the kernel and
 * initramfs copied out of the image. Nothing is visible in the cache until complete.
 */
export async function prepareArtifacts(store: Store, record: ImageRecord, options: BuildOptions): Promise<Artifacts> {
  const key = exportCacheKey({ manifestDigest: record.manifestDigest, format: options.format, rootfs: options.rootfs, compression: options.compression, compressionLevel: options.compressionLevel, kernelVersion: options.kernelVersion });
  const dir = join(store.dirs.cacheDir('export'), key);
  const hit = await readCache(dir);
  if (hit) {
    options.logger.debug(`export cache hit: ${dir}`);
    return { dir, meta: hit, cached: true };
  }
  await removeTree(dir);
  await mkdir(store.dirs.cacheDir('export'), { recursive: true });
  const image = formatImageRef(record.ref);
  const manifest = await store.readManifest(record.manifestDigest);
  const tree = await store.readTree(manifest);
  if (tree.unsafe.length > 0) {
    throw new KilnError(ErrorCode.UNSAFE_PATH, `${image}: layer entries escape the root (${tree.unsafe.slice(0, 3).join(', ')})`, {
      hint: 'the image is hostile or corrupt; nothing was exported',
    });
  }
  const { os, remember } = await readOsRelease(store, tree, join(store.dirs.cacheDir('export'), OS_RELEASE_DIR));
  const work = await store.dirs.workDir('export');
  try {
    const out = join(work, 'out');
    await mkdir(out);
    const meta: Partial<CacheMeta> & { os: OsRelease } = { os };
    let kernelFiles: { kernel?: CachedFile; initramfs?: CachedFile } = {};
    if (options.format === 'boot') {
      // Choose the kernel first: an image without one fails before the long part.
      const pair = chooseBootPair(findBootPairs(filesIn(tree, 'boot'), moduleKernels(tree)), options.kernelVersion, image);
      const initramfs = detectInitramfs((p) => tree.resolve(p).ok);
      for (const w of initramfs.warnings) options.logger.warn(`${image}: ${w}`);
      const [kernel, initrd] = await extractFiles(tree, [
        { path: pair.kernel, dest: join(out, 'vmlinuz') },
        { path: pair.initramfs, dest: join(out, 'initramfs.img') },
      ], { openLayer: store.layerSource.openLayer, openRange: (layer, range) => store.openBlobRange(layer.digest, range) }, options.signal);
      Object.assign(meta, { kernelVersion: pair.version, initramfs, kernelFile: posix.basename(pair.kernel), initramfsFile: posix.basename(pair.initramfs) });
      kernelFiles = {
        kernel: await describeFile(out, 'vmlinuz', kernel, `/${pair.kernel}`),
        initramfs: await describeFile(out, 'initramfs.img', initrd, `/${pair.initramfs}`),
      };
    }
    const rootfsFile = `rootfs.${options.rootfs}`;
    const unpackDir = join(work, 'unpack');
    const cacheDirs = squashfsCacheDirs(options.compressionLevel, BLOCK_SIZE);
    await mkdir(unpackDir);
    const tool = await buildRootfs({ tree, openLayer: store.layerSource.openLayer }, join(out, rootfsFile), {
      type: options.rootfs, compression: options.compression, workDir: unpackDir, level: options.compressionLevel,
      squashfsCache: { blocks: join(store.dirs.cacheDir('export'), cacheDirs.blocks), layers: join(store.dirs.cacheDir('export'), cacheDirs.layers) }, signal: options.signal, logger: options.logger,
    });
    await removeTree(unpackDir);
    const full: CacheMeta = { ...meta, manifestDigest: record.manifestDigest, tool, files: { rootfs: await describeFile(out, rootfsFile), ...kernelFiles } };
    const committed = await commitCache(out, dir, full);
    await remember();
    return { dir, meta: committed, cached: false };
  } finally {
    await removeTree(work);
  }
}
