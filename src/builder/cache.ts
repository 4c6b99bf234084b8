import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { digestHex, isErrno, isStaleWork, makeWorkDir, removeTree, workDirOwner, writeFileAtomic, type Digest } from '../core/index.ts';
import type { Descriptor } from '../store/index.ts';
import { unpackLayerForOverlay } from './layer.ts';

/** A cached step result: the layer it produced, a blob of the store. */
export interface StepEntry {
  key: string;
  digest: Digest;
  size: number;
  created: string;
  createdBy: string;
}

/**
 * The build cache (the store's `build` cache directory): step entries and layers unpacked for
 * overlayfs. The layer tarballs are blobs of the store, stored once.
 */
export interface BuildCache {
  readonly root: string;
  /** The entry of a step, or undefined when absent or when its layer left the store (gc). */
  read(key: string): Promise<StepEntry | undefined>;
  write(entry: StepEntry): Promise<void>;
  /** Where a layer is unpacked for overlayfs. */
  layerDir(digest: Digest): string;
  /** The unpacked directory of a layer, unpacking it once if needed. */
  ensureLayerDir(layer: Descriptor, open: () => Readable): Promise<string>;
  /** Moves a finished upper directory in as a layer's directory (kept if one is already there). */
  adoptLayerDir(digest: Digest, dir: string): Promise<void>;
  workDir(prefix: string): Promise<string>;
}

/** Opens the build cache in `root`; `hasBlob` says whether a step's layer is still in the store. */
export function openBuildCache(root: string, hasBlob: (digest: Digest) => boolean): BuildCache {
  const steps = join(root, 'steps');
  const layers = join(root, 'layers');
  const work = join(root, 'work');
  const layerDir = (digest: Digest): string => join(layers, digestHex(digest));
  return {
    root,
    layerDir,
    read: async (key) => {
      let text: string;
      try {
        text = await readFile(join(steps, `${key}.json`), 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
      const entry = JSON.parse(text) as StepEntry;
      // An entry whose layer gc removed from the store is a miss: the step runs again.
      return hasBlob(entry.digest) ? entry : undefined;
    },
    write: async (entry) => {
      await mkdir(steps, { recursive: true });
      await writeFileAtomic(join(steps, `${entry.key}.json`), `${JSON.stringify(entry, null, 2)}\n`);
    },
    ensureLayerDir: async (layer, open) => {
      const dir = layerDir(layer.digest);
      if (existsSync(dir)) return dir;
      await mkdir(layers, { recursive: true });
      const tmp = await makeWorkDir(work, 'unpack');
      try {
        await unpackLayerForOverlay(join(tmp, 'root'), layer, open);
        await rename(join(tmp, 'root'), dir).catch((err: unknown) => {
          if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
        });
      } finally {
        await removeTree(tmp);
      }
      return dir;
    },
    adoptLayerDir: async (digest, dir) => {
      await mkdir(layers, { recursive: true });
      if (existsSync(layerDir(digest))) return removeTree(dir);
      await rename(dir, layerDir(digest));
    },
    workDir: (prefix) => makeWorkDir(work, prefix),
  };
}

/**
 * Cleans the build cache in `root` for `kiln store gc`: step entries and unpacked layers
 * whose layer is not in any image of the store (`keep`; the store's gc drops such layers'
 * blobs), layer tarballs that earlier versions kept in `blobs/`, and work directories of
 * processes that no longer run or whose lease expired. Steps of images that exist stay cached; while a build runs
 * (a live process owns a work directory) nothing is removed.
 */
export async function pruneBuildCache(root: string, keep: ReadonlySet<Digest>, isAlive: (pid: number) => boolean): Promise<number> {
  const cache = { root, blobsDir: join(root, 'blobs') };
  const list = async (dir: string): Promise<string[]> => readdir(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
  const kept = (hex: string): boolean => keep.has(`sha256:${hex}`);
  let removed = 0;
  // Work of a live owner whose lease is fresh is a build running now (see core's lease.ts).
  const work = await list(join(cache.root, 'work'));
  const stale = new Set<string>();
  for (const name of work) {
    if (await isStaleWork(join(cache.root, 'work', name), workDirOwner(name), { isAlive })) stale.add(name);
  }
  const live = work.some((name) => workDirOwner(name) !== undefined && !stale.has(name));
  // A build running now has steps and unpacked layers no image uses yet: leave the cache alone.
  if (live) return 0;
  for (const name of await list(join(cache.root, 'steps'))) {
    const entry = JSON.parse(await readFile(join(cache.root, 'steps', name), 'utf8').catch(() => '{}')) as Partial<StepEntry>;
    if (entry.digest && keep.has(entry.digest)) continue;
    await removeTree(join(cache.root, 'steps', name));
    removed++;
  }
  for (const name of await list(cache.blobsDir)) {
    if (kept(name.replace(/\.tar$/u, ''))) continue;
    await removeTree(join(cache.blobsDir, name));
    removed++;
  }
  for (const name of await list(join(cache.root, 'layers'))) {
    if (kept(name)) continue;
    await removeTree(join(cache.root, 'layers', name));
    removed++;
  }
  for (const name of stale) await removeTree(join(cache.root, 'work', name));
  return removed;
}
