import { readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, isErrno, isProcessAlive, isStaleWork, makeWorkDir, removeTree, workDirOwner, type Digest } from '../core/index.ts';
import { blobPath, type LayoutPaths } from './blobs.ts';
import type { Catalog } from './catalog.ts';

/** What `gc` removed. */
export interface GcReport {
  removedBlobs: number;
  freedBytes: number;
}

/** Blobs judged per write transaction: each transaction stays short, and writers of other processes get their turn between batches. */
export const GC_BATCH = 64;

/**
 * Removes blob files among `candidates` (or every blob) that no image references and no
 * live process pinned. Each batch is decided in one short write transaction, which moves
 * the doomed files out of `blobs/` into a private trash directory (a rename: no data is
 * freed while the lock is held); a commit that pins a blob afterwards sees it absent, as
 * before. Freeing the files' space happens after the transaction, asynchronously.
 */
export async function collectBlobs(input: { layout: LayoutPaths; catalog: Catalog; tmpDir: string }, candidates: Iterable<Digest> | 'all'): Promise<GcReport> {
  const { layout, catalog } = input;
  const report: GcReport = { removedBlobs: 0, freedBytes: 0 };
  const list = candidates === 'all'
    ? (await readdir(layout.blobsDir)).filter((n) => /^[a-f0-9]{64}$/u.test(n)).map((hex) => `sha256:${hex}` as Digest)
    : [...new Set(candidates)];
  // Sizes before the transactions: a blob's size never changes, and stat is I/O.
  const sizes = new Map<Digest, number>();
  for (const digest of list) {
    try {
      sizes.set(digest, (await stat(blobPath(layout, digest))).size);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  const present = [...sizes.keys()];
  // Manifests no image uses any more lose their blob references, even with nothing to delete.
  if (present.length === 0) {
    await catalog.writeAsync('collecting unreferenced blobs', () => catalog.pruneManifests());
    return report;
  }
  const trash = await makeWorkDir(input.tmpDir, 'trash');
  try {
    for (let start = 0; start < present.length; start += GC_BATCH) {
      const batch = present.slice(start, start + GC_BATCH);
      await catalog.writeAsync('collecting unreferenced blobs', () => {
        catalog.pruneManifests();
        const keep = catalog.referencedBlobs();
        for (const d of catalog.pinnedBlobs(isProcessAlive)) keep.add(d);
        for (const digest of batch) {
          if (keep.has(digest)) continue;
          try {
            renameSync(blobPath(layout, digest), join(trash, digestHex(digest)));
          } catch (err) {
            if (isErrno(err, 'ENOENT')) continue; // another process collected it first
            throw err;
          }
          report.removedBlobs++;
          report.freedBytes += sizes.get(digest) ?? 0;
        }
      });
    }
  } finally {
    await emptyTrash(trash);
  }
  return report;
}

/**
 * Deletes the trash folder's files a few at a time with async unlinks: a recursive `rm`
 * of a thousand files holds the event loop for tens of milliseconds.
 */
async function emptyTrash(trash: string): Promise<void> {
  const names = await readdir(trash);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(names.slice(i, i + 16).map((name) => unlink(join(trash, name)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    })));
  }
  await rmdir(trash);
  await removeTree(trash); // ends its lease (the folder is gone already)
}

/** Removes work directories (`<prefix>-<pid>-…`) of processes that no longer run or whose lease expired. */
export async function removeStaleWorkDirs(tmpDir: string): Promise<void> {
  for (const name of await readdir(tmpDir)) {
    const path = join(tmpDir, name);
    if (await isStaleWork(path, workDirOwner(name))) await rm(path, { recursive: true, force: true });
  }
}

/**
 * Removes per-blob cache files (`cache/<kind>/<hex>.json`, `<hex>.index.db`) whose blob is gone,
 * layer indexes left half-written by dead processes (or expired leases), and tree indexes of
 * the old JSON format.
 */
export async function removeOrphanCaches(cacheRoot: string, blobExists: (hex: string) => Promise<boolean>): Promise<void> {
  let kinds: string[];
  try {
    kinds = await readdir(cacheRoot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const kind of kinds) {
    let names: string[];
    try {
      names = await readdir(join(cacheRoot, kind));
    } catch (err) {
      if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    for (const name of names) {
      const path = join(cacheRoot, kind, name);
      const hex = /^([a-f0-9]{64})\.(?:json|index\.db)$/u.exec(name)?.[1];
      const writer = /^\.[a-f0-9]{64}\.(\d+)\.\d+\.tmp$/u.exec(name)?.[1];
      const stale = (hex !== undefined && ((kind === 'tree' && name.endsWith('.json')) || !(await blobExists(hex))))
        || (writer !== undefined && (await isStaleWork(path, Number(writer))));
      if (stale) await rm(path, { force: true });
    }
  }
}

