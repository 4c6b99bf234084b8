import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { blobSize, type LayoutPaths } from './blobs.ts';
import type { Catalog } from './catalog.ts';
import { renderLayoutIndex } from './layout-index.ts';

/** index.json as the catalog says it must be. */
export function expectedIndexText(layout: LayoutPaths, catalog: Catalog): string {
  return renderLayoutIndex(
    catalog.listImages().map((r) => ({
      ref: r.ref,
      manifestDigest: r.manifestDigest,
      manifestSize: blobSize(layout, r.manifestDigest) ?? 0,
      platform: r.platform,
    })),
  );
}

/**
 * Rewrites index.json from the catalog (temp file, fsync, rename, fsync of the folder).
 * Called inside every write transaction that changes names, so it is synchronous: the
 * transaction must not yield to the event loop while it holds the connection.
 */
export function syncLayoutIndex(layout: LayoutPaths, catalog: Catalog): void {
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  const tmp = `${layout.indexPath}.tmp-${process.pid}-${process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, expectedIndexText(layout, catalog));
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
}
