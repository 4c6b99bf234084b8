import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { HashingStream, isErrno, type Digest } from '../core/index.ts';
import { blobPath, type LayoutPaths } from './blobs.ts';
import type { Catalog } from './catalog.ts';
import { formatImageRef } from './reference.ts';

/** The result of `kiln store verify`. */
export interface VerifyReport {
  ok: boolean;
  blobsChecked: number;
  bytesChecked: number;
  /** Blobs whose content does not hash to their name. */
  corrupt: Array<{ digest: Digest; actual: Digest }>;
  /** Blobs an image needs that are not in the store. */
  missing: Array<{ digest: Digest; images: string[] }>;
  /** Files in blobs/sha256/ whose name is not a digest. */
  strays: string[];
  /** Whether index.json lists exactly the catalog's images. */
  indexInSync: boolean;
}

async function hashFile(path: string): Promise<{ digest: Digest; size: number } | undefined> {
  const hashing = new HashingStream();
  try {
    await pipeline(createReadStream(path), hashing, new Writable({ write: (_c, _e, cb) => cb() }));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined; // removed by a concurrent gc
    throw err;
  }
  return { digest: hashing.digest, size: hashing.size };
}

/** Re-hashes every blob, checks every referenced blob is present and index.json matches the catalog. */
export async function verifyStore(input: { layout: LayoutPaths; catalog: Catalog; expectedIndex: () => string }): Promise<VerifyReport> {
  const { layout, catalog } = input;
  const report: VerifyReport = { ok: true, blobsChecked: 0, bytesChecked: 0, corrupt: [], missing: [], strays: [], indexInSync: true };
  const present = new Set<Digest>();
  for (const name of readdirSync(layout.blobsDir).sort()) {
    if (!/^[a-f0-9]{64}$/u.test(name)) {
      report.strays.push(name);
      continue;
    }
    const digest: Digest = `sha256:${name}`;
    const result = await hashFile(blobPath(layout, digest));
    if (!result) continue;
    present.add(digest);
    report.blobsChecked++;
    report.bytesChecked += result.size;
    if (result.digest !== digest) report.corrupt.push({ digest, actual: result.digest });
  }
  const referenced = catalog.referencedBlobs();
  for (const digest of referenced) {
    if (present.has(digest)) continue;
    // A blob added after the directory listing is present, not missing.
    const again = await hashFile(blobPath(layout, digest));
    if (again) continue;
    report.missing.push({ digest, images: catalog.imagesUsing(digest).map(formatImageRef) });
  }
  report.indexInSync = readFileSync(layout.indexPath, 'utf8') === input.expectedIndex();
  report.ok = report.corrupt.length === 0 && report.missing.length === 0 && report.strays.length === 0 && report.indexInSync;
  return report;
}
