import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { KilnError, ErrorCode, TarScanner, createDecompressor, layerCompression, safeMemberName } from '../core/index.ts';
import type { Descriptor } from './oci.ts';

/** One path of an image's merged file tree. */
export interface TreeEntry {
  /** Path relative to the image root, without leading "/" ("" is the root). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target as written, or the hardlink's target path (relative to the root). */
  linkname: string;
  /** Index of the layer that provides it. */
  layer: number;
  /** Offset of its data in the layer's uncompressed tar. */
  offset: number;
  xattrs?: Record<string, string>;
}

/** Where a path leads once symlinks are followed inside the image. */
export type Resolution =
  | { ok: true; path: string; entry: TreeEntry | undefined; escaped: boolean }
  | { ok: false; reason: 'missing' | 'loop' | 'not-a-directory'; path: string; escaped: boolean };

/** A read-only view of an image's merged file tree, built from layer headers only. */
export interface ImageTree {
  layers: readonly Descriptor[];
  entries: ReadonlyMap<string, TreeEntry>;
  /** Member names refused because they would escape the root. */
  unsafe: readonly string[];
  get(path: string): TreeEntry | undefined;
  /** Direct children of a directory. */
  children(dir: string): TreeEntry[];
  /** Follows symlinks (and hardlinks) the way the image would see them: "/" is the image root, never the host. */
  resolve(path: string): Resolution;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_LINKS = 40;

/** Normalises a user path ("/etc//x/") to the tree's form ("etc/x"). */
export function treePath(path: string): string {
  return path.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

function deleteTree(entries: Map<string, TreeEntry>, path: string): void {
  entries.delete(path);
  const prefix = path === '' ? '' : `${path}/`;
  for (const key of entries.keys()) if (key.startsWith(prefix) && key !== path) entries.delete(key);
}

/** The layer's uncompressed tar stream; destroying it also closes the blob. */
function decompressed(stream: Readable, layer: Descriptor): Readable {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  if (compression === 'none') return stream;
  const out = stream.pipe(createDecompressor(compression));
  stream.on('error', (err) => out.destroy(err));
  out.on('close', () => stream.destroy());
  return out;
}

/** Scans a layer's tar headers (no data kept). */
async function scanLayer(layer: Descriptor, stream: Readable): Promise<Array<Omit<TreeEntry, 'layer'> & { raw: string }>> {
  const members: Array<Omit<TreeEntry, 'layer'> & { raw: string }> = [];
  const scanner = new TarScanner(`layer ${layer.digest}`, (m) => {
    members.push({ raw: m.name, path: m.name, type: m.type as TreeEntry['type'], mode: m.mode, uid: m.uid, gid: m.gid, size: m.size, linkname: m.linkname, offset: m.offset, ...(m.xattrs ? { xattrs: m.xattrs } : {}) });
  });
  for await (const chunk of decompressed(stream, layer)) scanner.push(chunk as Buffer);
  scanner.end();
  return members;
}

/** Builds the merged tree of an image from its layers, applying OCI whiteouts in order. */
export async function readImageTree(layers: readonly Descriptor[], openLayer: (layer: Descriptor) => Readable): Promise<ImageTree> {
  const entries = new Map<string, TreeEntry>();
  const unsafe: string[] = [];
  const dirs = new Set<string>();
  for (const [index, layer] of layers.entries()) {
    const members = await scanLayer(layer, openLayer(layer));
    const added: TreeEntry[] = [];
    for (const m of members) {
      const path = safeMemberName(m.raw);
      if (path === undefined || (m.type === 'hardlink' && safeMemberName(m.linkname) === undefined)) {
        unsafe.push(m.raw);
        continue;
      }
      const base = posix.basename(path);
      const dir = path.includes('/') ? posix.dirname(path) : '';
      if (base === OPAQUE) {
        for (const key of [...entries.keys()]) if (dir === '' || key.startsWith(`${dir}/`)) entries.delete(key);
      } else if (base.startsWith(WHITEOUT)) {
        deleteTree(entries, dir === '' ? base.slice(WHITEOUT.length) : `${dir}/${base.slice(WHITEOUT.length)}`);
      } else {
        const { raw: _raw, ...rest } = m;
        added.push({ ...rest, path, layer: index, linkname: m.type === 'hardlink' ? (safeMemberName(m.linkname) ?? '') : m.linkname });
      }
    }
    for (const entry of added) {
      // A non-directory replacing a directory (listed or implied) hides what was below it.
      if (entry.type !== 'directory' && dirs.has(entry.path)) deleteTree(entries, entry.path);
      entries.set(entry.path, entry);
      for (let dir = parentOfPath(entry.path); dir !== '' && !dirs.has(dir); dir = parentOfPath(dir)) dirs.add(dir);
      if (entry.type === 'directory') dirs.add(entry.path);
    }
  }
  return createTree(layers, entries, unsafe);
}

/** Wraps a map of entries as an {@link ImageTree} (also used by tests to build trees directly). */
export function createTree(layers: readonly Descriptor[], entries: Map<string, TreeEntry>, unsafe: string[] = []): ImageTree {
  let childIndex: Map<string, TreeEntry[]> | undefined;
  const isDir = (path: string): boolean => path === '' || entries.get(path)?.type === 'directory' || (childIndex ??= indexChildren(entries)).has(path);
  const tree: ImageTree = {
    layers,
    entries,
    unsafe,
    get: (path) => entries.get(treePath(path)),
    children: (dir) => ((childIndex ??= indexChildren(entries)).get(treePath(dir)) ?? []),
    resolve: (path) => {
      let escaped = false;
      let hops = 0;
      let pending = treePath(path).split('/').filter(Boolean);
      let current: string[] = [];
      while (pending.length > 0) {
        const part = pending.shift() as string;
        if (part === '..') {
          if (current.length === 0) escaped = true;
          current.pop();
          continue;
        }
        const parent = current.join('/');
        if (!isDir(parent)) return { ok: false, reason: 'not-a-directory', path: parent, escaped };
        const candidate = parent === '' ? part : `${parent}/${part}`;
        const entry = entries.get(candidate);
        if (entry?.type === 'symlink') {
          if (++hops > MAX_LINKS) return { ok: false, reason: 'loop', path: candidate, escaped };
          const target = entry.linkname.split('/').filter((p) => p !== '' && p !== '.');
          if (entry.linkname.startsWith('/')) current = [];
          pending = [...target, ...pending];
          continue;
        }
        if (!entry && !isDir(candidate)) return { ok: false, reason: 'missing', path: candidate, escaped };
        current.push(part);
      }
      const final = current.join('/');
      let entry = entries.get(final);
      for (let i = 0; entry?.type === 'hardlink' && i < MAX_LINKS; i++) entry = entries.get(entry.linkname);
      return { ok: true, path: final, entry, escaped };
    },
  };
  return tree;
}

function parentOfPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function indexChildren(entries: Map<string, TreeEntry>): Map<string, TreeEntry[]> {
  const index = new Map<string, TreeEntry[]>();
  for (const entry of entries.values()) {
    if (entry.path === '') continue;
    const parent = parentOfPath(entry.path);
    const list = index.get(parent);
    if (list) list.push(entry);
    else index.set(parent, [entry]);
    // Every ancestor is a directory even when the tar did not list it.
    for (let dir = parent; dir !== '' && !index.has(parentOfPath(dir)); dir = parentOfPath(dir)) index.set(parentOfPath(dir), []);
  }
  return index;
}

/** Content read from an image: the bytes, or why they are absent. */
export type FileContent = { ok: true; data: Buffer; truncated: boolean } | { ok: false; reason: string };

/**
 * Reads the content of a few regular files of an image, following symlinks inside the
 * image. Each file is read up to `limit` bytes (marked truncated beyond). Uncompressed
 * layers are read in place; compressed ones are streamed once each, up to the last
 * byte needed.
 */
export async function readTreeFiles(
  tree: ImageTree,
  paths: readonly string[],
  source: { blobFile: (layer: Descriptor) => string; openLayer: (layer: Descriptor) => Readable },
  limit = 64 << 20,
): Promise<Map<string, FileContent>> {
  const out = new Map<string, FileContent>();
  const wanted = new Map<number, Array<{ path: string; entry: TreeEntry }>>();
  for (const path of paths) {
    const r = tree.resolve(path);
    if (!r.ok) out.set(path, { ok: false, reason: `${r.reason} (${r.path})` });
    else if (!r.entry || r.entry.type !== 'file') out.set(path, { ok: false, reason: r.entry ? `not a regular file (${r.entry.type})` : 'a directory' });
    else wanted.set(r.entry.layer, [...(wanted.get(r.entry.layer) ?? []), { path, entry: r.entry }]);
  }
  for (const [index, items] of wanted) {
    const layer = tree.layers[index] as Descriptor;
    const take = (e: TreeEntry): number => Math.min(e.size, limit);
    if (layerCompression(layer.mediaType) === 'none') {
      const handle = await open(source.blobFile(layer), 'r');
      try {
        for (const { path, entry } of items) {
          const data = Buffer.alloc(take(entry));
          await handle.read(data, 0, data.length, entry.offset);
          out.set(path, { ok: true, data, truncated: entry.size > data.length });
        }
      } finally {
        await handle.close();
      }
      continue;
    }
    const sorted = [...items].sort((a, b) => a.entry.offset - b.entry.offset);
    const buffers = new Map(sorted.map((i) => [i.path, Buffer.alloc(take(i.entry))]));
    const end = Math.max(...sorted.map((i) => i.entry.offset + take(i.entry)));
    let pos = 0;
    const stream = decompressed(source.openLayer(layer), layer);
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      for (const { path, entry } of sorted) {
        const target = buffers.get(path) as Buffer;
        const from = Math.max(entry.offset, pos);
        const to = Math.min(entry.offset + target.length, pos + buf.length);
        if (from < to) buf.copy(target, from - entry.offset, from - pos, to - pos);
      }
      pos += buf.length;
      if (pos >= end) break;
    }
    stream.destroy();
    for (const { path, entry } of sorted) {
      const data = buffers.get(path) as Buffer;
      out.set(path, { ok: true, data, truncated: entry.size > data.length });
    }
  }
  return out;
}
