import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, isProcessAlive, tempSiblingOwner, type Digest } from '../core/index.ts';
import { recordKeys, type LayerRecord } from './squashfs-layers.ts';

const BLOCKS = 'squashfs-blocks-';
const LAYERS = 'squashfs-layers-';

/**
 * The export cache's directories for one gzip level and block size: blocks by content, and
 * per-layer records (shared by every image). gc pairs them by these prefixes.
 */
export function squashfsCacheDirs(level: number, blockSize: number): { blocks: string; layers: string } {
  const tail = `gzip-${level}-${blockSize}`;
  return { blocks: BLOCKS + tail, layers: LAYERS + tail };
}
/** os-release files by `<layer hex>-<offset>` (see build.ts). */
export const OS_RELEASE = 'squashfs-os-release';

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
}

/** Every block file of a block cache directory (`<2 hex>/<key>`), with its size and mtime. */
async function blockFiles(dir: string): Promise<Array<{ key: string; path: string; size: number; mtimeMs: number }>> {
  const out: Array<{ key: string; path: string; size: number; mtimeMs: number }> = [];
  for (const sub of await list(dir)) {
    for (const name of await list(join(dir, sub))) {
      const path = join(dir, sub, name);
      // A block being written belongs to an export under way; one whose writer died is removed.
      const owner = tempSiblingOwner(name);
      if (owner !== undefined) {
        if (!isProcessAlive(owner)) await rm(path, { force: true });
        continue;
      }
      const info = await stat(path).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
      if (info?.isFile()) out.push({ key: name, path, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return out;
}

/**
 * For `kiln store gc`, in the export cache `root`: drops the per-layer records of layers no
 * image has (`layers`), then every block no remaining record names (blocks of a cache
 * without records, such as an older layout's, go too). Returns how many files went.
 */
export async function pruneSquashfsCache(root: string, layers: ReadonlySet<Digest>): Promise<number> {
  let removed = 0;
  const names = await list(root);
  for (const name of names.filter((n) => n.startsWith(BLOCKS))) {
    const recordsDir = join(root, LAYERS + name.slice(BLOCKS.length));
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
    for (const block of await blockFiles(join(root, name))) {
      if (keep.has(block.key)) continue;
      await rm(block.path, { force: true });
      removed++;
    }
  }
  // os-release files by layer (build.ts): those of layers gone.
  for (const file of await list(join(root, OS_RELEASE))) {
    if (layers.has(`sha256:${file.replace(/-\d+$/u, '')}` as Digest)) continue;
    await rm(join(root, OS_RELEASE, file), { force: true });
    removed++;
  }
  // Records whose block cache is gone name nothing.
  for (const name of names.filter((n) => n.startsWith(LAYERS) && !names.includes(BLOCKS + n.slice(LAYERS.length)))) {
    await rm(join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Keeps the block caches under `root` within `maxBytes` altogether: the least recently
 * used blocks (oldest mtime: a block is touched when an export reuses it) go first.
 * A layer record naming a block that went is still read, but not used (its layer is read again).
 */
export async function boundSquashfsBlocks(root: string, maxBytes: number): Promise<{ bytes: number; removed: number }> {
  const blocks = [];
  for (const name of (await list(root)).filter((n) => n.startsWith(BLOCKS))) blocks.push(...(await blockFiles(join(root, name))));
  let bytes = blocks.reduce((s, b) => s + b.size, 0);
  let removed = 0;
  blocks.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const block of blocks) {
    if (bytes <= maxBytes) break;
    await rm(block.path, { force: true });
    bytes -= block.size;
    removed++;
  }
  return { bytes, removed };
}
