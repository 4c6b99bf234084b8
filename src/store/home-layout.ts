import { createReadStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { KilnError, ErrorCode, makeWorkDir, type Digest } from '../core/index.ts';
import { blobPath, blobSize, type LayoutPaths } from './blobs.ts';

/**
 * The directories of KILN_HOME besides the OCI layout and the catalog, by kind. Only the
 * store knows where they are: other domains ask for a kind and get a directory.
 */
const CACHE_DIRS = {
  /** Build steps and layers unpacked for overlayfs (the layer tarballs are store blobs). */
  build: ['cache', 'build'],
  /** Boot artifacts made by `kiln image export`. */
  export: ['cache', 'export'],
  /** Files of compressed layers extracted once for `kiln serve` (by layer digest and offset), and boot artifacts it exported. */
  boot: ['cache', 'boot'],
  /** Layer indexes of the file-tree view. */
  tree: ['cache', 'tree'],
  /** Blobs of pulls on their way into the store (on the store's filesystem: they join it by a rename). */
  'registry-blobs': ['tmp', 'registry-blobs'],
  /** Hints of which registry repository holds which blob (cross-repository mounts). */
  registry: ['registry'],
  /** State of `kiln serve`'s nodes that is not a cache (never pruned): each node's /persist, SSH host keys and machine-id, by MAC. */
  'node-state': ['state', 'nodes'],
  /** State of `kiln serve` itself: the server's SSH key pair (generated once). */
  'server-state': ['state', 'server'],
} as const satisfies Record<string, readonly string[]>;

/** A kind of cache directory under KILN_HOME. */
export type CacheKind = keyof typeof CACHE_DIRS;

/** The KILN_HOME layout as other domains see it: directories by kind, never paths under the home. */
export interface HomeLayout {
  /** The directory of a cache kind (its user creates it when it first writes there). */
  cacheDir(kind: CacheKind): string;
  /**
   * A new private work directory (`<kind>-<pid>-<random>`, kind in `[a-z]+`) on the store's
   * filesystem; the caller removes it, and `kiln store gc` removes those of dead processes.
   */
  workDir(kind: string): Promise<string>;
}

/** Where the store keeps what it owns under a KILN_HOME. */
export interface HomePaths extends HomeLayout {
  /** The OCI image layout. */
  storeDir: string;
  /** The catalog database. */
  catalogPath: string;
  /** Work directories and staging areas. */
  tmpDir: string;
  /** Parent of the cache kinds that hold files named after blobs. */
  cacheRoot: string;
}

/** The layout of the KILN_HOME at `home`; creates its work directory. */
export function createHomeLayout(home: string): HomePaths {
  const tmpDir = join(home, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  return {
    storeDir: join(home, 'store'),
    catalogPath: join(home, 'kiln.db'),
    tmpDir,
    cacheRoot: join(home, 'cache'),
    cacheDir: (kind) => join(home, ...CACHE_DIRS[kind]),
    workDir: async (kind) => {
      if (!/^[a-z]+$/u.test(kind)) throw new KilnError(ErrorCode.INVALID_NAME, `work directory kind "${kind}" is not [a-z]+`);
      return makeWorkDir(tmpDir, kind);
    },
  };
}

/** A byte range of a blob, both ends included (as in an HTTP Range header). */
export interface BlobRange {
  start: number;
  end: number;
}

/**
 * A stream of a byte range of a blob, for serving parts of a file (registry uploads in
 * chunks, files read in place from an uncompressed layer). A range cannot be checked
 * against the digest: callers check what they can (sizes, their own hashes).
 */
export function openBlobRange(layout: LayoutPaths, digest: Digest, range: BlobRange): Readable {
  if (range.end < range.start) return Readable.from([]);
  const size = blobSize(layout, digest);
  if (size === undefined) {
    throw new KilnError(ErrorCode.MISSING_BLOB, `blob ${digest} is missing`, { hint: 'run `kiln store verify`' });
  }
  if (range.start < 0 || range.end >= size) {
    throw new KilnError(ErrorCode.SIZE_MISMATCH, `bytes ${range.start}-${range.end} lie outside blob ${digest} (${size} bytes)`);
  }
  // 1 MiB reads: a sixteenth of the calls and buffers of the default 64 KiB (uploads read whole layers).
  return createReadStream(blobPath(layout, digest), { start: range.start, end: range.end, highWaterMark: 1 << 20 });
}
