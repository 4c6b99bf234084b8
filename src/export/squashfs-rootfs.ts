import { open } from 'node:fs/promises';
import {
  KilnError, ErrorCode, decompressedStream, type Digest, layerCompression, readTarMembers, safeMemberName, type Logger,
} from '../core/index.ts';
import type { Descriptor, TreeEntry } from '../store/index.ts';
import { createBlockCompressor } from './block-compressor.ts';
import { openBlockPacks, type BlockPacks } from './squashfs-packs.ts';
import { NO_FRAGMENT } from './squashfs-format.ts';
import { recordKeys, type LayerRecord, type LayerRecords, type MemberRecord } from './squashfs-layers.ts';
import { SquashfsWriter, type FileData, type SqfsEntry } from './squashfs-writer.ts';

import type { RootfsSource } from './rootfs.ts';

/** SquashFS block size (mksquashfs's default). */
export const BLOCK_SIZE = 131072;

/** gzip level of Kiln's SquashFS writer by default: 4x faster than 9 for +0.2% size on a Debian root (see the README). */
export const DEFAULT_GZIP_LEVEL = 6;

function toEntry(e: TreeEntry): SqfsEntry {
  const xattrs: Record<string, Buffer> = {};
  // As the extractor: overlayfs's own attributes are dropped (they would steer an overlay mount).
  for (const [name, value] of Object.entries(e.xattrs ?? {})) if (!name.startsWith('trusted.overlay.')) xattrs[name] = Buffer.from(value, 'latin1');
  const kind = e.type === 'directory' ? 'dir' : e.type;
  return { path: e.path, kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: 0, xattrs, target: e.type === 'symlink' || e.type === 'hardlink' ? e.linkname : undefined };
}

/** Options of {@link writeSquashfsRoot}. */
export interface SquashfsRootOptions {
  mountPoints: readonly string[];
  /** gzip level (1-9). */
  level: number;
  /** The block packs' directory (see squashfs-packs.ts); none: every block is compressed, and none is kept. */
  blockCacheDir?: string | undefined;
  /** Per-layer records (with `blockCacheDir`): members of layers written before are taken from the cache, the layer unread. */
  layers?: LayerRecords | undefined;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

type Origin = Map<string, { layer: number; offset: number }>;

/**
 * Writes an image's merged root filesystem as SquashFS (gzip) with Kiln's own writer, from
 * the image tree (one parse of the layers decides what the filesystem holds: the layer
 * indexes) and the layers' file data streamed through the same tar reader, with no
 * unpacked directory. `mountPoints` are added as empty directories when missing.
 * A layer whose record covers every member the image keeps of it, with all their blocks
 * cached, is not read at all: its members are written from the cache (a child image
 * after its parent reads only its own new layers).
 */
export async function writeSquashfsRoot(source: RootfsSource, out: string, options: SquashfsRootOptions): Promise<void> {
  const { tree } = source;
  const entries = new Map<string, SqfsEntry>();
  const origin: Origin = new Map();
  const kept = tree.layers.map(() => new Array<{ path: string; offset: number }>());
  for (const e of tree.walk()) {
    entries.set(e.path, toEntry(e));
    if (e.layer >= 0) {
      origin.set(e.path, { layer: e.layer, offset: e.offset });
      kept[e.layer]?.push({ path: e.path, offset: e.offset });
    }
  }
  if (!entries.has('')) entries.set('', { path: '', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  for (const dir of options.mountPoints) if (!entries.has(dir)) entries.set(dir, { path: dir, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  const cache = options.blockCacheDir === undefined ? undefined : await openBlockPacks(options.blockCacheDir);
  const fh = await open(out, 'wx');
  const compressor = createBlockCompressor({ level: options.level });
  try {
    const writer = new SquashfsWriter(fh, { blockSize: BLOCK_SIZE, level: options.level, compressor, cache });
    const learnt: Array<{ digest: Digest; old: LayerRecord | undefined; members: Map<number, { member: MemberRecord; data?: FileData | undefined }> }> = [];
    let replayed = 0;
    for (const [i, layer] of tree.layers.entries()) {
      const members = (kept[i] ?? []).sort((a, b) => a.offset - b.offset);
      if (members.length === 0) continue;
      const digest = (layer as Descriptor).digest;
      const record = cache && options.layers ? await options.layers.read(digest) : undefined;
      if (record && cache && covers(record, members, entries, cache)) {
        await replayLayer(writer, record, members, entries, options.signal);
        replayed++;
        continue;
      }
      const seen = await addLayer(writer, layer as Descriptor, i, source, entries, origin, options.signal);
      learnt.push({ digest, old: record, members: seen });
    }
    await writer.finish(entries);
    await fh.sync();
    // The image is the pack of its own blocks: the next export takes them from it.
    await cache?.add(out, writer.placed);
    if (options.layers) for (const l of learnt) await options.layers.write(l.digest, toRecord(writer, l.old, l.members));
    options.logger.debug(`squashfs: ${writer.stats.blocks} blocks, ${writer.stats.cached} from the block cache, ${replayed} layers from their records`);
  } finally {
    await compressor.close();
    await cache?.close();
    await fh.close();
  }
}

/** True when `record` has every kept member (files with their data) and every block they need is cached. */
function covers(record: LayerRecord, members: ReadonlyArray<{ path: string; offset: number }>, entries: ReadonlyMap<string, SqfsEntry>, cache: BlockPacks): boolean {
  for (const { path, offset } of members) {
    const m = record.members[String(offset)];
    if (!m || (entries.get(path)?.kind === 'file' && !m.file)) return false;
  }
  for (const key of recordKeys(record, members.map((m) => m.offset))) if (!cache.has(key)) return false;
  return true;
}

/** Writes a layer's kept members from its record, in the order a read of the layer would (tails pack the same). */
async function replayLayer(
  writer: SquashfsWriter, record: LayerRecord, members: ReadonlyArray<{ path: string; offset: number }>,
  entries: Map<string, SqfsEntry>, signal: AbortSignal | undefined,
): Promise<void> {
  for (const { path, offset } of members) {
    signal?.throwIfAborted();
    const m = record.members[String(offset)] as MemberRecord;
    const entry = entries.get(path) as SqfsEntry;
    entry.mtime = m.mtime;
    if (m.major !== undefined) Object.assign(entry, { major: m.major, minor: m.minor });
    if (entry.kind !== 'file' || !m.file) continue;
    const t = m.file.tail;
    const tail = t ? { fragment: t.fragment, offset: t.offset, length: t.length, fragmentSize: t.fragmentSize, sum: t.sum ?? (t.length === m.file.size ? t.hash : undefined) } : undefined;
    entry.data = await writer.addCachedFile(m.file.size, m.file.keys, tail, t && t.length === m.file.size ? t.hash ?? t.sum : undefined);
  }
}

/** The layer's record after this export: what it had, and what this read of the layer wrote. */
function toRecord(writer: SquashfsWriter, old: LayerRecord | undefined, seen: ReadonlyMap<number, { member: MemberRecord; data?: FileData | undefined }>): LayerRecord {
  const members: Record<string, MemberRecord> = { ...(old?.members ?? {}) };
  for (const [offset, { member, data }] of seen) {
    const rec: MemberRecord = { ...member };
    if (data) {
      const tailLength = data.size % writer.blockSize;
      const fragment = data.fragment !== NO_FRAGMENT ? writer.fragmentKey(data.fragment) : undefined;
      if (tailLength > 0 && fragment === undefined) continue;
      const tail = fragment ? { fragment, offset: data.fragmentOffset, length: tailLength, hash: data.tailHash, sum: data.tailSum, fragmentSize: writer.fragmentSize(data.fragment) } : undefined;
      rec.file = { size: data.size, keys: data.keys ?? [], ...(tail ? { tail } : {}) };
    }
    members[String(offset)] = rec;
  }
  return { version: 1, members };
}

async function addLayer(
  writer: SquashfsWriter, layer: Descriptor, index: number, source: RootfsSource,
  entries: Map<string, SqfsEntry>, origin: Origin, signal: AbortSignal | undefined,
): Promise<Map<number, { member: MemberRecord; data?: FileData | undefined }>> {
  const seen = new Map<number, { member: MemberRecord; data?: FileData | undefined }>();
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
      const member: MemberRecord = { mtime: entry.mtime };
      if (m.type === 'char' || m.type === 'block') {
        Object.assign(entry, { major: m.devmajor, minor: m.devminor });
        Object.assign(member, { major: m.devmajor, minor: m.devminor });
      }
      if (m.type === 'file') entry.data = await writer.addFile(m.size, data);
      seen.set(m.offset, { member, data: m.type === 'file' ? entry.data : undefined });
    });
  } finally {
    stream.on('error', () => undefined);
    stream.destroy();
  }
  return seen;
}
