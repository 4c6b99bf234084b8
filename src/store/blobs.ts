import { createReadStream, createWriteStream, existsSync, mkdirSync, writeFileSync, readFileSync, renameSync, statSync } from 'node:fs';
import { readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { renderLayoutIndex } from './layout-index.ts';
import {
  KilnError, ErrorCode, HashingStream, assertContent, digestHex, digestOf, makeWorkDir, progressStream, removeTree, silentProgress,
  syncDir, syncPath, writeFileSynced, type Digest, type Progress,
} from '../core/index.ts';

/** A blob written to a staging area and verified, not yet visible in the store. */
export interface StagedBlob {
  digest: Digest;
  size: number;
  path: string;
}

/** What a blob must turn out to be while it streams in. */
export interface ExpectedContent {
  digest: Digest;
  size?: number | undefined;
}

/** Files and folders of an OCI image layout rooted at `dir`. */
export interface LayoutPaths {
  dir: string;
  blobsDir: string;
  indexPath: string;
}

/** The paths of the OCI layout at `dir`. */
export function layoutPaths(dir: string): LayoutPaths {
  return { dir, blobsDir: join(dir, 'blobs', 'sha256'), indexPath: join(dir, 'index.json') };
}

/** The file of a blob inside a layout. */
export function blobPath(layout: LayoutPaths, digest: Digest): string {
  return join(layout.blobsDir, digestHex(digest));
}

/** Creates `oci-layout`, `index.json` and `blobs/sha256/` if missing. */
export function initLayout(layout: LayoutPaths): void {
  mkdirSync(layout.blobsDir, { recursive: true });
  const marker = join(layout.dir, 'oci-layout');
  if (!existsSync(marker)) writeFileSync(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (!existsSync(layout.indexPath)) {
    writeFileSync(`${layout.indexPath}.init`, renderLayoutIndex([]));
    renameSync(`${layout.indexPath}.init`, layout.indexPath);
  }
}

/** Size of a blob on disk, or undefined when it is absent. */
export function blobSize(layout: LayoutPaths, digest: Digest): number | undefined {
  try {
    return statSync(blobPath(layout, digest)).size;
  } catch {
    return undefined;
  }
}

/** Reads a small blob (manifest, config) whole, verifying its digest. */
export async function readSmallBlob(layout: LayoutPaths, digest: Digest, what: string, limit = 16 << 20): Promise<Buffer> {
  const path = blobPath(layout, digest);
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} ${digest} is not a regular file`);
    if (info.size > limit) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} ${digest} is ${info.size} bytes, more than a manifest or config can be`);
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError(ErrorCode.MISSING_BLOB, `${what} ${digest} is missing`, { cause: err, hint: 'run `kiln store verify`' });
  }
  assertContent(`${what} ${digest}`, { digest }, { digest: digestOf(bytes), size: bytes.length });
  return bytes;
}

/**
 * A pass-through that hashes what it carries and fails before its end when the content is not
 * `expected`: a consumer that reads to the end (a pipeline, `for await`) always sees the error.
 */
export function verifyingStream(what: string, expected: ExpectedContent): Transform {
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      try {
        assertContent(what, expected, { digest: `sha256:${hash.digest('hex')}`, size });
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/** A stream of a blob's bytes, checked against its digest and size as it is read. */
export function openVerifiedBlob(layout: LayoutPaths, digest: Digest, size?: number): Readable {
  // 1 MiB reads rather than 64 KiB: a sixteenth of the reads, hash updates and stream hops per layer.
  const source = createReadStream(blobPath(layout, digest), { highWaterMark: 1 << 20 });
  const verifying = verifyingStream(`blob ${digest}`, { digest, size });
  source.on('error', (err) => verifying.destroy(new KilnError(ErrorCode.MISSING_BLOB, `blob ${digest} cannot be read`, { cause: err })));
  return source.pipe(verifying);
}

/** A staging area for blobs of one operation; nothing in it is visible until committed. */
export interface Staging {
  dir: string;
  /** Streams `source` (through `extra` transforms, e.g. a tee) to a staged file, verifying what it must be. */
  stage(source: Readable | AsyncIterable<Uint8Array>, expected?: ExpectedContent, extra?: Transform[]): Promise<StagedBlob>;
  /** Stages a small in-memory document (a manifest or config Kiln wrote). */
  stageBytes(bytes: string | Uint8Array): Promise<StagedBlob>;
  /** Staged blobs by digest. */
  staged: Map<Digest, StagedBlob>;
  /** Moves the staged blobs into the layout (skipping ones already there), recording in `added` each one it moved. */
  publish(layout: LayoutPaths, digests: Iterable<Digest>, added: Digest[]): Promise<void>;
  dispose(): Promise<void>;
}

/** Creates a staging area under `tmpRoot` (which must be on the store's filesystem). */
export async function createStaging(tmpRoot: string, signal?: AbortSignal, progress: Progress = silentProgress): Promise<Staging> {
  const dir = await makeWorkDir(tmpRoot, 'stage');
  const staged = new Map<Digest, StagedBlob>();
  let seq = 0;

  const keep = async (path: string, blob: Omit<StagedBlob, 'path'>): Promise<StagedBlob> => {
    const prior = staged.get(blob.digest);
    if (prior) {
      await rm(path, { force: true });
      return prior;
    }
    const result = { ...blob, path };
    staged.set(blob.digest, result);
    return result;
  };

  return {
    dir,
    staged,
    stage: async (source, expected, extra = []) => {
      const path = join(dir, `blob-${seq++}`);
      const hashing = new HashingStream();
      const out = createWriteStream(path, { flags: 'wx', mode: 0o644 });
      const label = expected ? expected.digest.slice(0, 19) : 'importing';
      const counter = progressStream(progress.start(label, expected?.size));
      try {
        const streams: NodeJS.ReadWriteStream[] = [source as NodeJS.ReadableStream as NodeJS.ReadWriteStream, ...extra, counter, hashing, out as unknown as NodeJS.ReadWriteStream];
        await pipeline(streams, { signal });
        await syncPath(path);
        if (expected) assertContent(`blob ${expected.digest}`, expected, { digest: hashing.digest, size: hashing.size });
      } catch (err) {
        await rm(path, { force: true });
        throw err;
      }
      return keep(path, { digest: hashing.digest, size: hashing.size });
    },
    stageBytes: async (bytes) => {
      const path = join(dir, `blob-${seq++}`);
      await writeFileSynced(path, bytes);
      const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      return keep(path, { digest: digestOf(data), size: data.length });
    },
    publish: async (layout, digests, added) => {
      for (const digest of digests) {
        const target = blobPath(layout, digest);
        const blob = staged.get(digest);
        if (existsSync(target)) {
          // Refresh the mtime so that a gc started earlier sees the blob as in use.
          const now = new Date();
          await utimes(target, now, now).catch(() => undefined);
          continue;
        }
        if (!blob) throw new KilnError(ErrorCode.MISSING_BLOB, `blob ${digest} is neither in the store nor in the source`, { hint: 'the source image is incomplete' });
        await rename(blob.path, target);
        added.push(digest);
      }
      if (added.length > 0) await syncDir(layout.blobsDir);
    },
    dispose: () => removeTree(dir),
  };
}

/** Reads and parses a JSON file that must exist (index.json, manifest.json). */
export function readJsonFile(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}
