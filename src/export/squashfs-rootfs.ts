import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KilnError, ErrorCode, decompressedStream, isErrno, layerCompression, readTarMembers, safeMemberName, type Logger,
} from '../core/index.ts';
import type { Descriptor, TreeEntry } from '../store/index.ts';
import { SquashfsWriter, type BlockCache, type SqfsEntry } from './squashfs-writer.ts';
import type { RootfsSource } from './rootfs.ts';

/** SquashFS block size (mksquashfs's default). */
export const BLOCK_SIZE = 131072;

/** The export cache's directory of SquashFS blocks (gzip, {@link BLOCK_SIZE}), shared by every image. */
export const SQUASHFS_BLOCKS = 'squashfs-blocks-gzip-131072';

/** A block cache in a directory: one file per block, named by the sha256 of its raw bytes, written by rename. */
export function createDirBlockCache(dir: string): BlockCache {
  const path = (key: string): string => join(dir, key.slice(0, 2), key);
  return {
    get: async (key) => readFile(path(key)).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err))),
    put: async (key, stored) => {
      await mkdir(join(dir, key.slice(0, 2)), { recursive: true });
      const tmp = `${path(key)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, stored);
      await rename(tmp, path(key));
    },
  };
}

function toEntry(e: TreeEntry): SqfsEntry {
  const xattrs: Record<string, Buffer> = {};
  // As the extractor: overlayfs's own attributes are dropped (they would steer an overlay mount).
  for (const [name, value] of Object.entries(e.xattrs ?? {})) if (!name.startsWith('trusted.overlay.')) xattrs[name] = Buffer.from(value, 'latin1');
  const kind = e.type === 'directory' ? 'dir' : e.type;
  return { path: e.path, kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: 0, xattrs, target: e.type === 'symlink' || e.type === 'hardlink' ? e.linkname : undefined };
}

/**
 * Writes an image's merged root filesystem as SquashFS (gzip) with Kiln's own writer, from
 * the image tree (one parse of the layers decides what the filesystem holds: the layer
 * indexes) and the layers' file data streamed through the same tar reader, with no
 * unpacked directory. `mountPoints` are added as empty directories when missing.
 */
export async function writeSquashfsRoot(source: RootfsSource, out: string, options: { mountPoints: readonly string[]; cache?: BlockCache | undefined; signal?: AbortSignal | undefined; logger: Logger }): Promise<void> {
  const { tree } = source;
  const entries = new Map<string, SqfsEntry>();
  const origin = new Map<string, { layer: number; offset: number }>();
  const winners = new Array<number>(tree.layers.length).fill(0);
  for (const e of tree.walk()) {
    entries.set(e.path, toEntry(e));
    if (e.layer >= 0) {
      origin.set(e.path, { layer: e.layer, offset: e.offset });
      winners[e.layer] = (winners[e.layer] ?? 0) + 1;
    }
  }
  if (!entries.has('')) entries.set('', { path: '', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  for (const dir of options.mountPoints) if (!entries.has(dir)) entries.set(dir, { path: dir, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  const fh = await open(out, 'wx');
  try {
    const writer = new SquashfsWriter(fh, { blockSize: BLOCK_SIZE, level: 9, cache: options.cache });
    for (const [i, layer] of tree.layers.entries()) {
      if (winners[i] === 0) continue;
      await addLayer(writer, layer as Descriptor, i, source, entries, origin, options.signal);
    }
    await writer.finish(entries);
    options.logger.debug(`squashfs: ${writer.stats.blocks} blocks, ${writer.stats.cached} from the block cache`);
  } finally {
    await fh.close();
  }
}

async function addLayer(
  writer: SquashfsWriter, layer: Descriptor, index: number, source: RootfsSource,
  entries: Map<string, SqfsEntry>, origin: Map<string, { layer: number; offset: number }>, signal: AbortSignal | undefined,
): Promise<void> {
  const what = `layer ${layer.digest}`;
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `${what}: unsupported media type ${layer.mediaType}`);
  const stream = decompressedStream(source.openLayer(layer), compression, what);
  try {
    await readTarMembers(stream as AsyncIterable<Buffer>, what, async (m, data) => {
      signal?.throwIfAborted();
      const rel = safeMemberName(m.name);
      if (rel === undefined) return;
      const from = origin.get(rel);
      if (!from || from.layer !== index || from.offset !== m.offset) return;
      const entry = entries.get(rel) as SqfsEntry;
      const t = m.mtime ?? 0;
      entry.mtime = Number.isFinite(t) && t >= 0 && t < 2 ** 32 ? Math.floor(t) : 0;
      if (m.type === 'char' || m.type === 'block') Object.assign(entry, { major: m.devmajor, minor: m.devminor });
      if (m.type === 'file') entry.data = await writer.addFile(m.size, data);
    });
  } finally {
    stream.on('error', () => undefined);
    stream.destroy();
  }
}
