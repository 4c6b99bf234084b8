import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { silentLogger, type Digest, type Logger, type Progress } from '../core/index.ts';
import { openCatalog, type Catalog, type ImageRecord } from './catalog.ts';
import {
  blobPath, blobSize, createStaging, initLayout, layoutPaths, openVerifiedBlob, readSmallBlob,
  type LayoutPaths, type Staging,
} from './blobs.ts';
import { parseConfig, parseManifest, type Descriptor, type ImageConfig, type ImageManifest } from './oci.ts';
import { sameRef, type ImageRef } from './reference.ts';
import { verifyStore, type VerifyReport } from './verify.ts';
import { readImageTree, type ImageTree, type LayerSource } from './tree.ts';
import { adoptLayerIndex } from './layer-index.ts';
import { collectBlobs, removeOrphanCaches, removeStaleWorkDirs, type GcReport } from './gc.ts';
import { commitImage, exists, notFound, type NewImage } from './commit.ts';
import { imageBooted, type NodeTable } from './nodes.ts';
import { expectedIndexText, syncLayoutIndex } from './index-sync.ts';

export type { GcReport } from './gc.ts';
export type { NewImage } from './commit.ts';
import { createHomeLayout, openBlobRange, type BlobRange, type HomeLayout } from './home-layout.ts';
import { createHeldBlobs, type AddedBlob, type BlobHold } from './held-blobs.ts';

/** How to open a store. */
export interface StoreOptions {
  /** KILN_HOME: holds store/ (the OCI layout), kiln.db (the catalog) and tmp/. */
  home: string;
  logger?: Logger;
}

/** The local image store: an OCI image layout plus a SQLite catalog, safe for concurrent processes. */
export interface Store {
  readonly layout: LayoutPaths;
  /** Work and cache directories of KILN_HOME by kind: no other domain joins paths under it. */
  readonly dirs: HomeLayout;
  listImages(): ImageRecord[];
  findImage(ref: ImageRef): ImageRecord | undefined;
  /** The image, or NOT_FOUND with a hint. */
  getImage(ref: ImageRef): ImageRecord;
  readManifest(digest: Digest): Promise<ImageManifest>;
  readManifestBytes(digest: Digest): Promise<Buffer>;
  readConfig(manifest: ImageManifest): Promise<ImageConfig>;
  /** Where image layers are read from, for the file-tree view. */
  readonly layerSource: LayerSource;
  /** The merged file tree of an image from its layers' headers; layer indexes are cached under cache/tree/. */
  readTree(manifest: ImageManifest): Promise<ImageTree>;
  /** Caches the index of a layer scanned elsewhere (an import walks its tar anyway). */
  /** Moves a layer index built while importing the layer (a file in the staging area) into the cache. */
  adoptLayerIndex(layer: Descriptor, file: string): Promise<void>;
  /** A stream of a blob, verified against its digest as it is read. */
  openBlob(digest: Digest, size?: number): Readable;
  /** A byte range of a blob (both ends included), unverified: for serving parts of files. */
  openBlobRange(digest: Digest, range: BlobRange): Readable;
  /** The size of a blob, or undefined when the store does not have it. */
  blobSize(digest: Digest): number | undefined;
  hasBlob(digest: Digest): boolean;
  /** Keeps blobs no image refers to yet from gc while this process runs, until released. */
  holdBlobs(): BlobHold;
  /** Streams a blob into the store outside any image, under a hold (e.g. a built layer). */
  addBlob(source: Readable | AsyncIterable<Uint8Array>, hold: BlobHold, options?: { expected?: { digest: Digest; size?: number }; signal?: AbortSignal; progress?: Progress }): Promise<AddedBlob>;
  /** A staging area for a new image's blobs; `progress` (the request's) shows them streaming in. */
  createStaging(signal?: AbortSignal, progress?: Progress): Promise<Staging>;
  /** Makes a staged image visible under its name, atomically, or leaves the store as it was. */
  commitImage(staging: Staging, image: NewImage, options?: { force?: boolean }): Promise<ImageRecord>;
  duplicate(source: ImageRef, target: ImageRef, options?: { force?: boolean }): ImageRecord;
  rename(source: ImageRef, target: ImageRef, options?: { force?: boolean }): ImageRecord;
  remove(refs: readonly ImageRef[]): Promise<ImageRecord[]>;
  /** The images nodes boot (from the catalog's nodes table), each once: `kiln image show` reports them in use. */
  imagesInUse(): ImageRef[];
  /** The nodes and unknown devices (catalog tables `nodes` and `devices`). */
  readonly nodes: NodeTable;
  verify(): Promise<VerifyReport>;
  /** Deletes unreferenced blobs, stale work (dead owner or expired lease) and caches of deleted blobs, without stalling the event loop. */
  gc(): Promise<GcReport>;
  close(): void;
}


/** Opens the store under `home`, creating it when absent. */
export function openStore(options: StoreOptions): Store {
  const logger = options.logger ?? silentLogger;
  const paths = createHomeLayout(options.home);
  const layout = layoutPaths(paths.storeDir);
  const { tmpDir } = paths;
  initLayout(layout);
  const catalog: Catalog = openCatalog(paths.catalogPath);
  const held = createHeldBlobs(catalog, layout, tmpDir);

  const syncIndex = (): void => syncLayoutIndex(layout, catalog);
  const collect = (candidates: Iterable<Digest> | 'all'): Promise<GcReport> => collectBlobs({ layout, catalog, tmpDir }, candidates);

  const treeCacheDir = paths.cacheDir('tree');
  const layerSource: LayerSource = {
    blobFile: (layer) => blobPath(layout, layer.digest),
    openLayer: (layer) => openVerifiedBlob(layout, layer.digest, layer.size),
  };

  const store: Store = {
    layout,
    dirs: { cacheDir: paths.cacheDir, workDir: paths.workDir },
    listImages: () => catalog.listImages(),
    findImage: (ref) => catalog.findImage(ref),
    getImage: (ref) => {
      const record = catalog.findImage(ref);
      if (!record) throw notFound(ref);
      return record;
    },
    readManifestBytes: (digest) => readSmallBlob(layout, digest, 'manifest'),
    readManifest: async (digest) => parseManifest(await readSmallBlob(layout, digest, 'manifest'), `manifest ${digest}`),
    readConfig: async (manifest) => parseConfig(await readSmallBlob(layout, manifest.config.digest, 'config'), `config ${manifest.config.digest}`),
    layerSource,
    readTree: (manifest) => readImageTree(manifest.layers, layerSource.openLayer, { blobFile: layerSource.blobFile, cacheDir: treeCacheDir }),
    adoptLayerIndex: (layer, file) => adoptLayerIndex(treeCacheDir, layer, file),
    openBlob: (digest, size) => openVerifiedBlob(layout, digest, size),
    openBlobRange: (digest, range) => openBlobRange(layout, digest, range),
    blobSize: (digest) => blobSize(layout, digest),
    hasBlob: (digest) => blobSize(layout, digest) !== undefined,
    holdBlobs: held.holdBlobs,
    addBlob: held.addBlob,
    createStaging: (signal, progress) => createStaging(tmpDir, signal, progress),

    commitImage: (staging, image, opts) => commitImage({ layout, catalog, collect }, staging, image, opts),

    duplicate: (source, target, opts = {}) =>
      catalog.write(() => {
        const record = catalog.findImage(source);
        if (!record) throw notFound(source);
        if (!opts.force && catalog.findImage(target)) throw exists(target);
        const copy: ImageRecord = { ...record, ref: target, added: new Date().toISOString() };
        catalog.putImage(copy, []);
        syncIndex();
        return copy;
      }),

    rename: (source, target, opts = {}) =>
      catalog.write(() => {
        const record = catalog.findImage(source);
        if (!record) throw notFound(source);
        if (sameRef(source, target)) return record;
        if (!opts.force && catalog.findImage(target)) throw exists(target);
        const moved: ImageRecord = { ...record, ref: target };
        catalog.putImage(moved, []);
        catalog.deleteImage(source);
        syncIndex();
        return moved;
      }),

    remove: async (refs) => {
      const removed = await catalog.writeAsync('removing images', () => {
        const records = refs.map((ref) => {
          const record = catalog.findImage(ref);
          if (!record) throw notFound(ref);
          // Checked in the removing transaction: a node booted meanwhile cannot lose its image.
          const booting = catalog.nodes.booting(ref);
          if (booting.length > 0) throw imageBooted(ref, booting);
          return record;
        });
        for (const r of records) catalog.deleteImage(r.ref);
        syncIndex();
        return records;
      });
      const candidates: Digest[] = [];
      for (const r of removed) {
        candidates.push(r.manifestDigest);
        try {
          const manifest = await store.readManifest(r.manifestDigest);
          candidates.push(manifest.config.digest, ...manifest.layers.map((l) => l.digest));
        } catch (err) {
          logger.debug(`remove: manifest ${r.manifestDigest} unreadable (${String(err)}); blobs left for gc`);
        }
      }
      await collect(candidates);
      return removed;
    },

    imagesInUse: () => catalog.imagesInUse(),
    nodes: catalog.nodes,

    verify: () => verifyStore({ layout, catalog, expectedIndex: () => expectedIndexText(layout, catalog) }),

    gc: async () => {
      const report = await collect('all');
      await removeStaleWorkDirs(tmpDir);
      await removeOrphanCaches(paths.cacheRoot, async (hex) => blobSize(layout, `sha256:${hex}`) !== undefined);
      return report;
    },

    close: () => catalog.close(),
  };

  return store;
}

/** Reads the current index.json text (for verification and tests). */
export function readLayoutIndex(layout: LayoutPaths): string {
  return readFileSync(layout.indexPath, 'utf8');
}
