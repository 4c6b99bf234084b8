import { KilnError, ErrorCode, isProcessAlive, type Digest } from '../core/index.ts';
import { parseSize } from '../config/index.ts';
import { pruneBuildCache } from '../builder/index.ts';
import { pruneExportCache } from '../export/index.ts';
import { pruneBootCache } from '../boot/index.ts';
import { pruneBlobCache } from '../registry/index.ts';
import type { GcReport, VerifyReport } from '../store/index.ts';
import type { Core } from './core.ts';

/**
 * Collects garbage everywhere in one call: unreferenced blobs, stale work files and per-blob
 * caches (the store), partial downloads (registry), build steps no image uses (builder),
 * boot artifacts of manifests gone (export), and what boot tests killed outright left.
 */
export async function collectGarbage(core: Core): Promise<GcReport> {
  const store = core.store();
  const report = await store.gc();
  // Blobs of pulls that died: partial files of dead processes, and ones the store already holds.
  await pruneBlobCache(store.dirs.cacheDir('registry-blobs'), (digest) => store.hasBlob(digest));
  const images = store.listImages();
  const layers = new Set<Digest>();
  for (const image of images) for (const layer of (await store.readManifest(image.manifestDigest)).layers) layers.add(layer.digest);
  await pruneBuildCache(store.dirs.cacheDir('build'), layers, isProcessAlive);
  await pruneExportCache(store.dirs.cacheDir('export'), new Set(images.map((i) => i.manifestDigest)), layers);
  await pruneBootCache(store.dirs.cacheDir('boot'), layers, new Set(images.map((i) => i.manifestDigest)));
  // What boot tests killed outright left: a namespace with its VM and servers, a node, a lease.
  const { sweepAbandonedBootTests } = await import('./boot-test.ts');
  await sweepAbandonedBootTests(core, core.logger);
  return report;
}

/** Re-hashes every blob and checks the catalog against the layout. */
export function verifyStore(core: Core): Promise<VerifyReport> {
  return core.store().verify();
}

/** export_block_cache_size in bytes; a CONFIG error when it is not a size. */
export function exportBlockCacheBytes(core: Core): number {
  const value = parseSize(core.config.values.export_block_cache_size);
  if (value === undefined) {
    throw new KilnError(ErrorCode.CONFIG, `export_block_cache_size is not a positive size: "${core.config.values.export_block_cache_size}"`, {
      hint: 'write a whole number, optionally followed by K, M, G or T (powers of 1024), e.g. 8G',
    });
  }
  return value;
}
