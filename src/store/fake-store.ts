import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  KilnError, ErrorCode, HashingStream, assertContent, digestOf, progressStream, silentProgress, type Digest, type Progress,
} from '../core/index.ts';
import { verifyingStream, type ExpectedContent, type LayoutPaths, type StagedBlob, type Staging } from './blobs.ts';
import type { ImageRecord } from './catalog.ts';
import { exists, notFound, type NewImage } from './commit.ts';
import type { GcReport } from './gc.ts';
import type { BlobHold } from './held-blobs.ts';
import type { BlobRange, HomeLayout } from './home-layout.ts';
import { configLabels, parseConfig, parseManifest, type Platform } from './oci.ts';
import { formatImageRef, sameRef, type ImageRef } from './reference.ts';
import type { Store } from './store.ts';
import { readImageTree, type LayerSource } from './tree.ts';
import type { VerifyReport } from './verify.ts';
import { createMemoryNodeTable } from './node-memory.ts';
import { imageBooted } from './nodes.ts';

/** How to make a fake store. */
export interface FakeStoreOptions {
  /** Images some node boots besides the registered nodes' (the real store reads them from the catalog's nodes table). */
  imagesInUse?: readonly ImageRef[];
  /** Directories for the domains that keep caches and work files; without them `dirs` is UNSUPPORTED. */
  dirs?: HomeLayout;
}

/** The fake's own view of itself, for tests that look behind the interface. */
export interface FakeStore extends Store {
  /** Digests of every blob held, referenced or not. */
  blobDigests(): Digest[];
}

const unsupported = (what: string): KilnError =>
  new KilnError(ErrorCode.UNSUPPORTED, `the in-memory store has no ${what}`, { hint: 'use a store opened on a KILN_HOME (openStore) for this test' });

const missing = (digest: Digest): KilnError => new KilnError(ErrorCode.MISSING_BLOB, `blob ${digest} is missing`, { hint: 'run `kiln store verify`' });

/** Reads a stream whole, through `extra` transforms, hashing it; checked against `expected` before it is returned. */
async function collect(
  source: Readable | AsyncIterable<Uint8Array>, expected: ExpectedContent | undefined, extra: Transform[], signal: AbortSignal | undefined, progress: Progress,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const hashing = new HashingStream();
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) });
  const counter = progressStream(progress.start(expected ? expected.digest.slice(0, 19) : 'importing', expected?.size));
  const streams = [source as NodeJS.ReadableStream as NodeJS.ReadWriteStream, ...extra, counter, hashing, sink as unknown as NodeJS.ReadWriteStream];
  await pipeline(streams, signal ? { signal } : {});
  if (expected) assertContent(`blob ${expected.digest}`, expected, { digest: hashing.digest, size: hashing.size });
  return Buffer.concat(chunks);
}

/**
 * An in-memory Store for tests: images, blob references, holds and blobs live in maps, with
 * the rules of the real store (names refused unless forced, atomic commits, gc of blobs no
 * image refers to and nothing holds, verified reads). What only exists on disk is not faked:
 * `layout` (there is no OCI layout), `layerSource.blobFile` (there are no blob files, so
 * readers of uncompressed layers in place must stream instead), a staging area's `dir`, a
 * staged blob's `path` and `publish` (importers that reread staged files need a disk), and
 * `dirs` unless given: each throws UNSUPPORTED. `readTree` builds layer indexes in
 * temporary files and caches none; `adoptLayerIndex` deletes the index it is given.
 */
export function createFakeStore(options: FakeStoreOptions = {}): FakeStore {
  const images = new Map<string, ImageRecord>();
  const blobs = new Map<Digest, Buffer>();
  /** The blobs each manifest refers to (itself, its config, its layers). */
  const manifestBlobs = new Map<Digest, Digest[]>();
  const holds = new Map<string, Set<Digest>>();
  /** The staged bytes of each staging area this store handed out. */
  const stagings = new WeakMap<Staging, Map<Digest, Buffer>>();

  const key = (ref: ImageRef): string => formatImageRef(ref);
  const find = (ref: ImageRef): ImageRecord | undefined => images.get(key(ref));
  const get = (ref: ImageRef): ImageRecord => {
    const record = find(ref);
    if (!record) throw notFound(ref);
    return record;
  };
  const put = (record: ImageRecord): void => void images.set(key(record.ref), record);
  const nodes = createMemoryNodeTable((ref) => find(ref) !== undefined);
  const bytesOf = (digest: Digest): Buffer => {
    const bytes = blobs.get(digest);
    if (!bytes) throw missing(digest);
    return bytes;
  };

  const referenced = (): Set<Digest> => {
    const out = new Set<Digest>();
    for (const image of images.values()) for (const d of manifestBlobs.get(image.manifestDigest) ?? []) out.add(d);
    return out;
  };
  const kept = (): Set<Digest> => {
    const out = referenced();
    for (const hold of holds.values()) for (const d of hold) out.add(d);
    return out;
  };
  /** Deletes the candidates no image refers to and nothing holds; forgets references of manifests no image uses. */
  const collectBlobs = (candidates: Iterable<Digest>): GcReport => {
    const used = new Set([...images.values()].map((i) => i.manifestDigest));
    for (const manifest of [...manifestBlobs.keys()]) if (!used.has(manifest)) manifestBlobs.delete(manifest);
    const keep = kept();
    const report: GcReport = { removedBlobs: 0, freedBytes: 0 };
    for (const digest of new Set(candidates)) {
      const bytes = blobs.get(digest);
      if (!bytes || keep.has(digest)) continue;
      blobs.delete(digest);
      report.removedBlobs++;
      report.freedBytes += bytes.length;
    }
    return report;
  };

  const openBlob = (digest: Digest, size?: number): Readable => {
    const bytes = blobs.get(digest);
    if (!bytes) {
      // As a missing file: the stream fails when read, not when opened.
      const failing = new Readable({ read: () => undefined });
      queueMicrotask(() => failing.destroy(missing(digest)));
      return failing;
    }
    return Readable.from([bytes]).pipe(verifyingStream(`blob ${digest}`, { digest, size }));
  };
  const layerSource: LayerSource = {
    blobFile: () => {
      throw unsupported('blob files');
    },
    openLayer: (layer) => openBlob(layer.digest, layer.size),
  };

  const createStaging = async (signal?: AbortSignal, progress: Progress = silentProgress): Promise<Staging> => {
    const bytes = new Map<Digest, Buffer>();
    const staged = new Map<Digest, StagedBlob>();
    const keep = (data: Buffer): StagedBlob => {
      const digest = digestOf(data);
      if (!bytes.has(digest)) {
        bytes.set(digest, data);
        staged.set(digest, { digest, size: data.length, get path(): string { throw unsupported('staged blob files'); } });
      }
      return staged.get(digest) as StagedBlob;
    };
    const staging: Staging = {
      get dir(): string {
        throw unsupported('staging directory');
      },
      staged,
      stage: async (source, expected, extra = []) => keep(await collect(source, expected, extra, signal, progress)),
      stageBytes: async (data) => keep(Buffer.from(data)),
      publish: async () => {
        throw unsupported('OCI layout to publish into (commitImage takes staged blobs in)');
      },
      dispose: async () => {
        bytes.clear();
        staged.clear();
      },
    };
    stagings.set(staging, bytes);
    return staging;
  };

  const commitImage = async (staging: Staging, image: NewImage, opts: { force?: boolean } = {}): Promise<ImageRecord> => {
    const staged = stagings.get(staging);
    if (!staged) throw unsupported('staging area of another store');
    if (!opts.force && find(image.ref)) throw exists(image.ref);
    const needed: Digest[] = [image.manifestDigest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)];
    // Every blob is checked before anything changes: the commit happens whole or not at all.
    for (const digest of needed) {
      if (!blobs.has(digest) && !staged.has(digest)) {
        throw new KilnError(ErrorCode.MISSING_BLOB, `blob ${digest} is neither in the store nor in the source`, { hint: 'the source image is incomplete' });
      }
    }
    for (const digest of needed) if (!blobs.has(digest)) blobs.set(digest, staged.get(digest) as Buffer);
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
    manifestBlobs.set(image.manifestDigest, [...new Set(needed)]);
    put(record);
    return record;
  };

  const store: FakeStore = {
    get layout(): LayoutPaths {
      throw unsupported('OCI layout on disk');
    },
    get dirs(): HomeLayout {
      if (options.dirs) return options.dirs;
      throw unsupported('KILN_HOME directories (pass `dirs` to createFakeStore)');
    },
    listImages: () => [...images.values()].sort((a, b) => (key(a.ref) < key(b.ref) ? -1 : key(a.ref) > key(b.ref) ? 1 : 0)),
    findImage: find,
    getImage: get,
    readManifestBytes: async (digest) => verifiedBytes(bytesOf(digest), digest),
    readManifest: async (digest) => parseManifest(verifiedBytes(bytesOf(digest), digest), `manifest ${digest}`),
    readConfig: async (manifest) => parseConfig(verifiedBytes(bytesOf(manifest.config.digest), manifest.config.digest), `config ${manifest.config.digest}`),
    layerSource,
    readTree: (manifest) => readImageTree(manifest.layers, layerSource.openLayer),
    adoptLayerIndex: (_layer, file) => rm(file, { force: true }),
    openBlob,
    openBlobRange: (digest, range: BlobRange) => {
      if (range.end < range.start) return Readable.from([]);
      const bytes = bytesOf(digest);
      if (range.start < 0 || range.end >= bytes.length) {
        throw new KilnError(ErrorCode.SIZE_MISMATCH, `bytes ${range.start}-${range.end} lie outside blob ${digest} (${bytes.length} bytes)`);
      }
      return Readable.from([bytes.subarray(range.start, range.end + 1)]);
    },
    blobSize: (digest) => blobs.get(digest)?.length,
    hasBlob: (digest) => blobs.has(digest),
    holdBlobs: () => {
      const token = randomBytes(8).toString('hex');
      return {
        add: (digests) => {
          const held = holds.get(token) ?? new Set<Digest>();
          for (const d of digests) held.add(d);
          holds.set(token, held);
        },
        release: () => void holds.delete(token),
      } satisfies BlobHold;
    },
    addBlob: async (source, hold, o = {}) => {
      const data = await collect(source, o.expected, [], o.signal, o.progress ?? silentProgress);
      const digest = digestOf(data);
      hold.add([digest]);
      if (!blobs.has(digest)) blobs.set(digest, data);
      return { digest, size: data.length };
    },
    createStaging,
    commitImage,
    duplicate: (source, target, opts = {}) => {
      const record = get(source);
      if (!opts.force && find(target)) throw exists(target);
      const copy: ImageRecord = { ...record, ref: target, added: new Date().toISOString() };
      put(copy);
      return copy;
    },
    rename: (source, target, opts = {}) => {
      const record = get(source);
      if (sameRef(source, target)) return record;
      if (!opts.force && find(target)) throw exists(target);
      const moved: ImageRecord = { ...record, ref: target };
      images.delete(key(source));
      put(moved);
      return moved;
    },
    remove: async (refs) => {
      // All names are checked before any goes, as in one transaction.
      const records = refs.map((ref) => {
        const record = get(ref);
        const booting = nodes.booting(ref);
        if (booting.length > 0) throw imageBooted(ref, booting);
        return record;
      });
      for (const r of records) images.delete(key(r.ref));
      collectBlobs(records.flatMap((r) => manifestBlobs.get(r.manifestDigest) ?? []));
      return records;
    },
    imagesInUse: () => [...new Map([...(options.imagesInUse ?? []), ...nodes.list().map((n) => n.image)].map((r) => [key(r), r])).values()].sort((a, b) => (key(a) < key(b) ? -1 : 1)),
    nodes,
    verify: async () => {
      const report: VerifyReport = { ok: true, blobsChecked: 0, bytesChecked: 0, corrupt: [], missing: [], strays: [], indexInSync: true };
      for (const [digest, bytes] of [...blobs].sort(([a], [b]) => (a < b ? -1 : 1))) {
        report.blobsChecked++;
        report.bytesChecked += bytes.length;
        const actual = digestOf(bytes);
        if (actual !== digest) report.corrupt.push({ digest, actual });
      }
      for (const digest of referenced()) {
        if (blobs.has(digest)) continue;
        const users = [...images.values()].filter((i) => manifestBlobs.get(i.manifestDigest)?.includes(digest)).map((i) => key(i.ref)).sort();
        report.missing.push({ digest, images: users });
      }
      report.ok = report.corrupt.length === 0 && report.missing.length === 0;
      return report;
    },
    gc: async () => collectBlobs([...blobs.keys()]),
    close: () => undefined,
    blobDigests: () => [...blobs.keys()].sort(),
  };
  return store;
}

/** A small blob read whole, checked against its name (as the real store reads manifests and configs). */
function verifiedBytes(bytes: Buffer, digest: Digest): Buffer {
  assertContent(`blob ${digest}`, { digest }, { digest: digestOf(bytes), size: bytes.length });
  return bytes;
}
