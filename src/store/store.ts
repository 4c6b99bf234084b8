import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync, readFileSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { KilnError, ErrorCode, isErrno, isProcessAlive, silentLogger, type Digest, type Logger, type Progress } from '../core/index.ts';
import { openCatalog, type Catalog, type ImageRecord } from './catalog.ts';
import {
  blobPath, blobSize, createStaging, initLayout, layoutPaths, openVerifiedBlob, readSmallBlob,
  type LayoutPaths, type Staging,
} from './blobs.ts';
import { configLabels, parseConfig, parseManifest, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from './oci.ts';
import { renderLayoutIndex } from './layout-index.ts';
import { formatImageRef, sameRef, type ImageRef } from './reference.ts';
import { verifyStore, type VerifyReport } from './verify.ts';
import { readImageTree, type ImageTree, type LayerSource } from './tree.ts';
import { adoptLayerIndex } from './layer-index.ts';

/** How to open a store. */
export interface StoreOptions {
  /** KILN_HOME: holds store/ (the OCI layout), kiln.db (the catalog) and tmp/. */
  home: string;
  logger?: Logger;
}

/** What a new image consists of, its blobs already staged or in the store. */
export interface NewImage {
  ref: ImageRef;
  manifestDigest: Digest;
  manifestSize: number;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** What `gc` removed. */
export interface GcReport {
  removedBlobs: number;
  freedBytes: number;
}

/** The local image store: an OCI image layout plus a SQLite catalog, safe for concurrent processes. */
export interface Store {
  readonly home: string;
  readonly layout: LayoutPaths;
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
  blobFile(digest: Digest): string;
  hasBlob(digest: Digest): boolean;
  /** A staging area for a new image's blobs; `progress` (the request's) shows them streaming in. */
  createStaging(signal?: AbortSignal, progress?: Progress): Promise<Staging>;
  /** Makes a staged image visible under its name, atomically, or leaves the store as it was. */
  commitImage(staging: Staging, image: NewImage, options?: { force?: boolean }): Promise<ImageRecord>;
  duplicate(source: ImageRef, target: ImageRef, options?: { force?: boolean }): ImageRecord;
  rename(source: ImageRef, target: ImageRef, options?: { force?: boolean }): ImageRecord;
  remove(refs: readonly ImageRef[]): Promise<ImageRecord[]>;
  verify(): Promise<VerifyReport>;
  gc(): Promise<GcReport>;
  close(): void;
}


function notFound(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.NOT_FOUND, `no image ${formatImageRef(ref)} in the store`, {
    hint: 'list images with `kiln image show` (add --all for other users\' images)',
  });
}

function exists(ref: ImageRef): KilnError {
  return new KilnError(ErrorCode.ALREADY_EXISTS, `image ${formatImageRef(ref)} already exists`, {
    hint: 'choose another name, remove it first with `kiln image remove`, or pass --force to replace it',
  });
}

/** Opens the store under `home`, creating it when absent. */
export function openStore(options: StoreOptions): Store {
  const logger = options.logger ?? silentLogger;
  const layout = layoutPaths(join(options.home, 'store'));
  const tmpDir = join(options.home, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  initLayout(layout);
  const catalog: Catalog = openCatalog(join(options.home, 'kiln.db'));

  /** index.json as the catalog says it must be. */
  const expectedIndexText = (): string =>
    renderLayoutIndex(
      catalog.listImages().map((r) => ({
        ref: r.ref,
        manifestDigest: r.manifestDigest,
        manifestSize: blobSize(layout, r.manifestDigest) ?? 0,
        platform: r.platform,
      })),
    );

  /** Rewrites index.json from the catalog; called inside every write transaction. */
  const syncIndex = (): void => {
    const tmp = `${layout.indexPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, expectedIndexText());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, layout.indexPath);
    const dirFd = openSync(layout.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  };

  /** Deletes blob files among `candidates` that no image references and no live process pinned. */
  const collect = (candidates: Iterable<Digest> | 'all'): GcReport => {
    const report: GcReport = { removedBlobs: 0, freedBytes: 0 };
    catalog.write(() => {
      catalog.pruneManifests();
      const keep = catalog.referencedBlobs();
      for (const d of catalog.pinnedBlobs(isProcessAlive)) keep.add(d);
      const list = candidates === 'all' ? readdirSync(layout.blobsDir).map((hex) => `sha256:${hex}` as Digest) : candidates;
      for (const digest of list) {
        if (keep.has(digest)) continue;
        const size = blobSize(layout, digest);
        if (size === undefined) continue;
        unlinkSync(blobPath(layout, digest));
        report.removedBlobs++;
        report.freedBytes += size;
      }
    });
    return report;
  };

  const treeCacheDir = join(options.home, 'cache', 'tree');
  const layerSource: LayerSource = {
    blobFile: (layer) => blobPath(layout, layer.digest),
    openLayer: (layer) => openVerifiedBlob(layout, layer.digest, layer.size),
  };

  const store: Store = {
    home: options.home,
    layout,
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
    blobFile: (digest) => blobPath(layout, digest),
    hasBlob: (digest) => blobSize(layout, digest) !== undefined,
    createStaging: (signal, progress) => createStaging(tmpDir, signal, progress),

    commitImage: async (staging, image, opts = {}) => {
      if (!opts.force && catalog.findImage(image.ref)) throw exists(image.ref);
      const blobs: Digest[] = [image.manifestDigest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)];
      const token = randomBytes(8).toString('hex');
      catalog.pin(blobs, token);
      const added: Digest[] = [];
      let committed = false;
      try {
        await staging.publish(layout, blobs, added);
        const platform: Platform = { os: image.config.os, architecture: image.config.architecture };
        if (image.config.variant) platform.variant = image.config.variant;
        const now = new Date().toISOString();
        const record: ImageRecord = {
          ref: image.ref,
          manifestDigest: image.manifestDigest,
          created: typeof image.config.created === 'string' ? image.config.created : now,
          size: image.manifestSize + image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0),
          labels: configLabels(image.config),
          platform,
          added: now,
        };
        catalog.write(() => {
          const missing = blobs.filter((d) => blobSize(layout, d) === undefined);
          if (missing.length > 0) {
            throw new KilnError(ErrorCode.CONFLICT, `blob ${missing[0]} disappeared while the image was being added`, {
              hint: 'another kiln process removed it (gc or remove); run the command again',
            });
          }
          if (!opts.force && catalog.findImage(image.ref)) throw exists(image.ref);
          catalog.putImage(record, blobs);
          syncIndex();
        });
        committed = true;
        return record;
      } finally {
        catalog.unpin(token);
        // On failure, blobs this operation brought in are orphans: take them out again.
        if (!committed && added.length > 0) collect(added);
      }
    },

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
      const removed = catalog.write(() => {
        const records = refs.map((ref) => {
          const record = catalog.findImage(ref);
          if (!record) throw notFound(ref);
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
      collect(candidates);
      return removed;
    },

    verify: () => verifyStore({ layout, catalog, expectedIndex: expectedIndexText }),

    gc: async () => {
      const report = collect('all');
      await removeStaleWorkDirs(tmpDir);
      await removeOrphanCaches(join(options.home, 'cache'), (hex) => blobSize(layout, `sha256:${hex}`) !== undefined);
      return report;
    },

    close: () => catalog.close(),
  };

  return store;
}

/** Removes work directories (`<prefix>-<pid>-…`) left by processes that no longer run. */
async function removeStaleWorkDirs(tmpDir: string): Promise<void> {
  for (const name of readdirSync(tmpDir)) {
    const pid = Number(/^[a-z]+-(\d+)-/u.exec(name)?.[1]);
    if (Number.isInteger(pid) && !isProcessAlive(pid)) await rm(join(tmpDir, name), { recursive: true, force: true });
  }
}

/**
 * Removes per-blob cache files (`cache/<kind>/<hex>.json`, `<hex>.index.db`) whose blob is gone,
 * layer indexes left half-written by dead processes, and tree indexes of the old JSON format.
 */
async function removeOrphanCaches(cacheRoot: string, blobExists: (hex: string) => boolean): Promise<void> {
  let kinds: string[];
  try {
    kinds = readdirSync(cacheRoot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const kind of kinds) {
    for (const name of readdirSync(join(cacheRoot, kind))) {
      const hex = /^([a-f0-9]{64})\.(?:json|index\.db)$/u.exec(name)?.[1];
      const writer = /^\.[a-f0-9]{64}\.(\d+)\.\d+\.tmp$/u.exec(name)?.[1];
      const stale = (hex !== undefined && (!blobExists(hex) || (kind === 'tree' && name.endsWith('.json'))))
        || (writer !== undefined && !isProcessAlive(Number(writer)));
      if (stale) await rm(join(cacheRoot, kind, name), { force: true });
    }
  }
}

/** Reads the current index.json text (for verification and tests). */
export function readLayoutIndex(layout: LayoutPaths): string {
  return readFileSync(layout.indexPath, 'utf8');
}
