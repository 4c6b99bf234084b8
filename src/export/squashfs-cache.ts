import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, type Digest } from '../core/index.ts';
import { boundPacks, prunePacks } from './squashfs-packs.ts';
import { recordKeys, type LayerRecord } from './squashfs-layers.ts';

const PACKS = 'squashfs-packs-';
const LAYERS = 'squashfs-layers-';
/** The per-block files of an earlier layout: gc removes them. */
const LEGACY_BLOCKS = 'squashfs-blocks-';

/**
 * The export cache's directories for one gzip level and block size: block packs (images of
 * earlier exports, indexed by block), and per-layer records (shared by every image). gc pairs them by these prefixes.
 */
export function squashfsCacheDirs(level: number, blockSize: number): { blocks: string; layers: string } {
  const tail = `gzip-${level}-${blockSize}`;
  return { blocks: PACKS + tail, layers: LAYERS + tail };
}
/** os-release files by `<layer hex>-<offset>` (see build.ts). */
export const OS_RELEASE = 'squashfs-os-release';

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
}

/**
 * For `kiln store gc`, in the export cache `root`: drops the per-layer records of layers no
 * image has (`layers`), then every pack no remaining record needs, and the block files of
 * the earlier one-file-per-block layout. Returns how many files went.
 */
export async function pruneSquashfsCache(root: string, layers: ReadonlySet<Digest>): Promise<number> {
  let removed = 0;
  const names = await list(root);
  for (const name of names.filter((n) => n.startsWith(PACKS))) {
    const recordsDir = join(root, LAYERS + name.slice(PACKS.length));
    const keep = new Set<string>();
    for (const file of await list(recordsDir)) {
      const path = join(recordsDir, file);
      const digest = `sha256:${file.replace(/\.json$/u, '')}` as Digest;
      if (!file.endsWith('.json') || !layers.has(digest)) {
        await rm(path, { force: true });
        removed++;
        continue;
      }
      const record = await readFile(path, 'utf8').then((t) => JSON.parse(t) as LayerRecord, () => undefined);
      if (record?.members) for (const k of recordKeys(record)) keep.add(k);
    }
    removed += await prunePacks(join(root, name), keep);
  }
  for (const name of names.filter((n) => n.startsWith(LEGACY_BLOCKS))) {
    await rm(join(root, name), { recursive: true, force: true });
    removed++;
  }
  // os-release files by layer (build.ts): those of layers gone.
  for (const file of await list(join(root, OS_RELEASE))) {
    if (layers.has(`sha256:${file.replace(/-\d+$/u, '')}` as Digest)) continue;
    await rm(join(root, OS_RELEASE, file), { force: true });
    removed++;
  }
  // Records whose packs are gone name nothing.
  for (const name of names.filter((n) => n.startsWith(LAYERS) && !names.includes(PACKS + n.slice(LAYERS.length)))) {
    await rm(join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Keeps the block packs under `root` within `maxBytes` altogether: the least recently used
 * packs go first. A layer record naming blocks of a pack that went is still read, but not used (its layer is read again).
 */
export async function boundSquashfsBlocks(root: string, maxBytes: number): Promise<{ bytes: number; removed: number }> {
  return boundPacks((await list(root)).filter((n) => n.startsWith(PACKS)).map((n) => join(root, n)), maxBytes);
}
