import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType, removeTree, type Digest } from '../core/index.ts';
import {
  unpackLayers, type BlobHold, type Descriptor, type ImageConfig, type ImageManifest, type ImageRecord, type ImageRef, type Store,
} from '../store/index.ts';
import { openBuildCache } from './cache.ts';
import { commitBuiltImage } from './execute.ts';
import { dirToLayer, type BuiltLayer } from './layer.ts';
import { mountOverlay } from './sandbox.ts';

/** WalT's limit on the layers of an image: a save beyond it squashes the image instead. */
export const MAX_LAYERS = 128;

/** An image as stored: its name, manifest and config. */
export interface StoredImage {
  ref: ImageRef;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** An image mounted for editing: its merged root, the upper directory that collects the changes. */
export interface MountedImage {
  readonly image: StoredImage;
  readonly merged: string;
  readonly upper: string;
  /** A private work directory, removed by `dispose`. */
  readonly work: string;
  /** Unmounts the overlay (the upper directory stays, to be saved). */
  unmount(): Promise<void>;
  /** Unmounts and removes every work file: nothing of the edit remains. */
  dispose(): Promise<void>;
}

/** Reads an image of the store with its manifest and config. */
export async function readStoredImage(store: Store, record: ImageRecord): Promise<StoredImage> {
  const manifest = await store.readManifest(record.manifestDigest);
  return { ref: record.ref, manifest, config: await store.readConfig(manifest) };
}

/**
 * Mounts an image's layers (unpacked once into the build cache) as an overlay with a fresh
 * upper directory. The work directory lives in the build cache's work area, so `kiln store
 * gc` leaves the cache alone while an edit runs.
 */
export async function mountImage(store: Store, image: StoredImage): Promise<MountedImage> {
  const cache = openBuildCache(store.dirs.cacheDir('build'), (digest) => store.hasBlob(digest));
  const work = await cache.workDir('edit');
  try {
    const lowers: string[] = [];
    for (const layer of image.manifest.layers) lowers.push(await cache.ensureLayerDir(layer, () => store.openBlob(layer.digest, layer.size)));
    const overlay = await mountOverlay(lowers.reverse(), work);
    return {
      image,
      merged: overlay.merged,
      upper: overlay.upper,
      work,
      unmount: () => overlay.unmount(),
      dispose: async () => {
        await overlay.unmount();
        await removeTree(work);
      },
    };
  } catch (err) {
    await removeTree(work);
    throw err;
  }
}

/** True when the upper directory of an unmounted edit holds any change. */
export async function hasChanges(mounted: MountedImage): Promise<boolean> {
  return (await readdir(mounted.upper)).length > 0;
}

/** How a save names and records its result. */
export interface SaveOptions {
  target: ImageRef;
  /** Replace an image of that name (overwrite, squash). */
  force: boolean;
  /** The history line of the new layer (`kiln image shell`, `kiln image cp ...`). */
  createdBy: string;
  signal?: AbortSignal;
  /** Squash when the image would have more layers than this (default {@link MAX_LAYERS}). */
  maxLayers?: number;
}

/** What a save did. */
export interface SaveResult {
  record: ImageRecord;
  layers: number;
  squashed: boolean;
}

const layerOf = (built: BuiltLayer): Descriptor => ({ mediaType: MediaType.ociLayer, digest: built.digest, size: built.size });

/**
 * Saves the changes of an unmounted edit as one new layer on top of the image, under
 * `target`; beyond `maxLayers` the whole image is squashed into one layer instead of
 * failing. The layer enters the store held from gc, and the image appears at once with its
 * config and manifest (store.commitImage), or not at all.
 */
export async function saveEdit(store: Store, mounted: MountedImage, options: SaveOptions): Promise<SaveResult> {
  const hold = store.holdBlobs();
  try {
    const built = await dirToLayer(mounted.upper, (tar) => store.addBlob(tar, hold, options.signal ? { signal: options.signal } : {}), mounted.work, undefined);
    const { manifest, config } = mounted.image;
    const created = new Date().toISOString();
    const layers = [...manifest.layers, layerOf(built)];
    if (layers.length > (options.maxLayers ?? MAX_LAYERS)) {
      const squashed = await squashInto(store, hold, layers, mounted.work, options.signal);
      const history = [{ created, created_by: `${options.createdBy} (squashed: ${layers.length} layers > ${options.maxLayers ?? MAX_LAYERS})` }];
      return { ...(await commitLayers(store, mounted.image, [squashed], [squashed.digest], history, options)), squashed: true };
    }
    const history = [...(config.history ?? []), { created, created_by: options.createdBy }];
    return { ...(await commitLayers(store, mounted.image, layers, [...config.rootfs.diff_ids, built.digest], history, options)), squashed: false };
  } finally {
    hold.release();
  }
}

/** Unpacks `layers` bottom to top into one directory and writes it back as one layer (under `hold`). */
async function squashInto(store: Store, hold: BlobHold, layers: readonly Descriptor[], work: string, signal?: AbortSignal): Promise<Descriptor> {
  const root = join(work, 'squash-root');
  try {
    await mkdir(root);
    await unpackLayers(root, layers, (layer) => store.openBlob(layer.digest, layer.size), signal);
    const built = await dirToLayer(root, (tar) => store.addBlob(tar, hold, signal ? { signal } : {}), work, undefined);
    return layerOf(built);
  } finally {
    await removeTree(root);
  }
}

/** Writes the config and manifest of an image with these layers and commits it under `options.target`. */
async function commitLayers(
  store: Store, base: StoredImage, layers: readonly Descriptor[], diffIds: readonly Digest[], history: NonNullable<ImageConfig['history']>, options: SaveOptions,
): Promise<Omit<SaveResult, 'squashed'>> {
  const config: ImageConfig = { ...base.config, created: new Date().toISOString(), rootfs: { type: 'layers', diff_ids: [...diffIds] }, history };
  const record = await commitBuiltImage(store, options.target, config, layers, { force: options.force, what: 'edited manifest', signal: options.signal });
  return { record, layers: layers.length };
}

/** Squashes an image into one layer with the same files, under `options.target` (`kiln image squash`). */
export async function squashImage(store: Store, image: StoredImage, options: Omit<SaveOptions, 'maxLayers'>): Promise<SaveResult> {
  const cache = openBuildCache(store.dirs.cacheDir('build'), (digest) => store.hasBlob(digest));
  const work = await cache.workDir('squash');
  const hold = store.holdBlobs();
  try {
    const layer = await squashInto(store, hold, image.manifest.layers, work, options.signal);
    const history = [{ created: new Date().toISOString(), created_by: options.createdBy }];
    const result = await commitLayers(store, image, [layer], [layer.digest], history, options);
    return { ...result, squashed: true };
  } finally {
    hold.release();
    await removeTree(work);
  }
}
