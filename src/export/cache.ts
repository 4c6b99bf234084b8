import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, removeTree, syncDir, syncPath, type Digest } from '../core/index.ts';
import type { InitramfsInfo } from './ipxe.ts';
import { pruneSquashfsCache } from './squashfs-cache.ts';
import type { OsRelease } from './names.ts';

/** One cached file: its name in the cache directory, size, sha256, and mtime (to notice changes). */
export interface CachedFile {
  file: string;
  size: number;
  sha256: string;
  mtimeMs: number;
  /** Where it came from in the image. */
  source?: string;
}

/** meta.json of a cache entry: what was found in the image and the files made from it. */
export interface CacheMeta {
  /** The image manifest the artifacts were made from (gc drops entries of manifests no image has). */
  manifestDigest?: Digest;
  os: OsRelease;
  tool: string;
  kernelVersion?: string;
  initramfs?: InitramfsInfo;
  /** File names in the image's /boot (the OpenCHAMI names keep them). */
  kernelFile?: string;
  initramfsFile?: string;
  files: { rootfs: CachedFile; kernel?: CachedFile; initramfs?: CachedFile };
}

const META = 'meta.json';

/** The hex sha256 and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Describes a file just made in `dir` for the cache. */
export async function describeFile(dir: string, file: string, known?: { size: number; digest: Digest }, source?: string): Promise<CachedFile> {
  const path = join(dir, file);
  const { size, sha256 } = known ? { size: known.size, sha256: known.digest.slice('sha256:'.length) } : await hashFile(path);
  const info = await stat(path);
  return { file, size, sha256, mtimeMs: info.mtimeMs, ...(source ? { source } : {}) };
}

/**
 * Reads a cache entry; undefined when absent or when a file's size or mtime changed
 * (someone wrote into an exported hardlink), so that the entry is made again.
 */
export async function readCache(dir: string): Promise<CacheMeta | undefined> {
  let meta: CacheMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as CacheMeta;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return undefined;
    throw err;
  }
  for (const f of Object.values(meta.files)) {
    try {
      const info = await stat(join(dir, f.file));
      if (info.size !== f.size || info.mtimeMs !== f.mtimeMs) return undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }
  return meta;
}

/**
 * Makes a finished entry visible: meta.json is written last, then the directory is
 * renamed to its key (the caller removed a stale one). When another process got there
 * first, its entry is kept; returns the meta of the entry that is in place.
 */
export async function commitCache(built: string, dir: string, meta: CacheMeta): Promise<CacheMeta> {
  for (const f of Object.values(meta.files)) await syncPath(join(built, f.file));
  await writeFile(join(built, META), `${JSON.stringify(meta, null, 2)}\n`);
  await syncPath(join(built, META));
  await syncDir(built);
  try {
    await rename(built, dir);
    return meta;
  } catch (err) {
    if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
    await removeTree(built);
    const theirs = await readCache(dir);
    if (!theirs) throw err;
    return theirs;
  }
}

/**
 * Cleans the export cache (its directory `root`) for `kiln store gc`: entries made from a manifest no image in
 * the store has (`keep`), entries without one, and half-made entries; with `layers` (every layer an image has),
 * SquashFS layer records and blocks no longer needed. Returns how many went.
 */
export async function pruneExportCache(root: string, keep: ReadonlySet<Digest>, layers?: ReadonlySet<Digest>): Promise<number> {
  // SquashFS blocks and per-layer records: those of layers no image has go, then blocks nothing names.
  let removed = layers ? await pruneSquashfsCache(root, layers) : 0;
  const names = await readdir(root).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
  for (const name of names) {
    // SquashFS blocks and layer records (squashfs-rootfs.ts): shared by all images, pruned above.
    if (name.startsWith('squashfs-')) continue;
    const meta = await readFile(join(root, name, META), 'utf8').then((t) => JSON.parse(t) as Partial<CacheMeta>, () => undefined);
    if (meta?.manifestDigest && keep.has(meta.manifestDigest)) continue;
    await removeTree(join(root, name));
    removed++;
  }
  return removed;
}
