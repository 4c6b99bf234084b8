import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { layerCompression } from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import { decompressedLayer, layerIndex, type IndexedEntry, type LayerIndex, type TreeOptions } from './layer-index.ts';

export type { TreeOptions } from './layer-index.ts';

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
  /** Index of the layer that provides it (-1 for a directory no layer lists, only implied by what is below it). */
  layer: number;
  /** Offset of its data in the layer's uncompressed tar. */
  offset: number;
  xattrs?: Record<string, string>;
}

/** Where a path leads once symlinks are followed inside the image. */
export type Resolution =
  | { ok: true; path: string; entry: TreeEntry | undefined; escaped: boolean }
  | { ok: false; reason: 'missing' | 'loop' | 'not-a-directory'; path: string; escaped: boolean };

/**
 * A read-only view of an image's merged file tree, built from layer headers only. It is
 * backed by the layers' on-disk indexes and looks paths up on demand, so its memory does
 * not grow with the number of members; `close()` releases the indexes.
 */
export interface ImageTree {
  layers: readonly Descriptor[];
  /** The first few member names refused because they would escape the root. */
  unsafe: readonly string[];
  /** How many member names were refused. */
  unsafeCount: number;
  get(path: string): TreeEntry | undefined;
  /** Direct children of a directory, by name. */
  children(dir: string): TreeEntry[];
  /** Follows symlinks (and hardlinks) the way the image would see them: "/" is the image root, never the host. */
  resolve(path: string): Resolution;
  /** Every entry, parents before children (for tests and tools that need the whole tree). */
  walk(): Generator<TreeEntry>;
  close(): void;
}

const MAX_LINKS = 40;

/** Normalises a user path ("/etc//x/") to the tree's form ("etc/x"). */
export function treePath(path: string): string {
  return path.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}

/** Builds the merged tree of an image from its layers' indexes (cached or built now), applying OCI whiteouts in order. */
export async function readImageTree(layers: readonly Descriptor[], openLayer: (layer: Descriptor) => Readable, options: TreeOptions = {}): Promise<ImageTree> {
  const indexes: LayerIndex[] = [];
  try {
    for (const layer of layers) indexes.push(await layerIndex(layer, openLayer, options, tmpdir()));
  } catch (err) {
    for (const index of indexes) index.close();
    throw err;
  }
  return createTree(layers, indexes);
}

function impliedDirectory(path: string): TreeEntry {
  return { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, linkname: '', layer: -1, offset: 0 };
}

/** Wraps open layer indexes (bottom layer first) as an {@link ImageTree}. */
export function createTree(layers: readonly Descriptor[], indexes: readonly LayerIndex[]): ImageTree {
  const top = indexes.length - 1;
  const entryOf = (path: string, layer: number, e: IndexedEntry): TreeEntry => {
    const entry: TreeEntry = { path, type: e.type === 'implied' ? 'directory' : e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, linkname: e.linkname, layer: e.type === 'implied' ? -1 : layer, offset: e.offset };
    if (e.xattrs) entry.xattrs = e.xattrs;
    return entry;
  };
  /** Whether layer `i` hides, from the layers below it, `path` and everything under it. */
  const hidesBelow = (i: number, path: string): boolean => {
    const index = indexes[i] as LayerIndex;
    if (index.opaque('')) return true;
    const parts = path.split('/');
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      if (index.whitedOut(prefix)) return true;
      if (n === parts.length) break;
      if (index.opaque(prefix)) return true;
      // A non-directory replacing a directory hides what lower layers hold under it.
      const [dir, name] = splitPath(prefix);
      const e = index.get(dir, name);
      if (e && e.type !== 'directory' && e.type !== 'implied') return true;
    }
    return false;
  };
  /** The entry at `path` as the top layers see it; an implied directory when only implied. */
  const lookup = (path: string): TreeEntry | undefined => {
    const [dir, name] = splitPath(path);
    let implied: TreeEntry | undefined;
    for (let i = top; i >= 0; i--) {
      const e = (indexes[i] as LayerIndex).get(dir, name);
      if (e && e.type !== 'implied' && (!implied || e.type === 'directory')) return entryOf(path, i, e);
      if (e) implied ??= impliedDirectory(path);
      if (path !== '' && hidesBelow(i, path)) break;
    }
    return implied;
  };
  const isDir = (path: string): boolean => path === '' || lookup(path)?.type === 'directory';
  const children = (dir: string): TreeEntry[] => {
    const seen = new Set<string>();
    const out: TreeEntry[] = [];
    for (let i = top; i >= 0; i--) {
      const index = indexes[i] as LayerIndex;
      for (const { name, entry } of index.children(dir)) {
        if (seen.has(name)) continue;
        seen.add(name);
        const path = dir === '' ? name : `${dir}/${name}`;
        let hidden = false;
        for (let j = i + 1; j <= top && !hidden; j++) hidden = (indexes[j] as LayerIndex).whitedOut(path);
        if (hidden) continue;
        out.push(entry.type === 'implied' ? (lookup(path) ?? impliedDirectory(path)) : entryOf(path, i, entry));
      }
      if (index.opaque(dir) || (dir !== '' && hidesBelow(i, dir))) break;
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  };
  const tree: ImageTree = {
    layers,
    unsafe: indexes.flatMap((index) => index.unsafe.names),
    unsafeCount: indexes.reduce((sum, index) => sum + index.unsafe.count, 0),
    get: (path) => {
      const entry = lookup(treePath(path));
      return entry && entry.layer >= 0 ? entry : undefined;
    },
    children: (dir) => children(treePath(dir)),
    *walk() {
      const root = lookup('');
      if (root && root.layer >= 0) yield root;
      const stack = [''];
      while (stack.length > 0) {
        for (const entry of children(stack.pop() as string)) {
          yield entry;
          if (entry.type === 'directory') stack.push(entry.path);
        }
      }
    },
    close: () => {
      for (const index of indexes) index.close();
    },
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
        const entry = lookup(candidate);
        if (entry?.type === 'symlink') {
          if (++hops > MAX_LINKS) return { ok: false, reason: 'loop', path: candidate, escaped };
          const target = entry.linkname.split('/').filter((p) => p !== '' && p !== '.');
          if (entry.linkname.startsWith('/')) current = [];
          pending = [...target, ...pending];
          continue;
        }
        if (!entry) return { ok: false, reason: 'missing', path: candidate, escaped };
        current.push(part);
      }
      const final = current.join('/');
      let entry = lookup(final);
      for (let i = 0; entry?.type === 'hardlink' && i < MAX_LINKS; i++) entry = lookup(entry.linkname);
      return { ok: true, path: final, entry: entry && entry.layer >= 0 ? entry : undefined, escaped };
    },
  };
  return tree;
}

/** Where a layer's bytes come from: its blob file (read in place when uncompressed) or a verified stream. */
export interface LayerSource {
  blobFile: (layer: Descriptor) => string;
  openLayer: (layer: Descriptor) => Readable;
}

/** Content read from an image: the bytes, or why they are absent. */
export type FileContent = { ok: true; data: Buffer; truncated: boolean } | { ok: false; reason: string };

/** A file to read with {@link readTreeFiles}: a path, or a path with its own byte limit. */
export type FileRequest = string | { path: string; limit: number };

/**
 * Reads the content of a few regular files of an image, following symlinks inside the
 * image. Each file is read up to its limit (`limit` unless the request gives one; marked
 * truncated beyond). Uncompressed layers are read in place; compressed ones are streamed
 * once each, up to the last byte needed. Results are keyed by the path as requested.
 */
export async function readTreeFiles(
  tree: ImageTree,
  paths: readonly FileRequest[],
  source: LayerSource,
  limit = 64 << 20,
): Promise<Map<string, FileContent>> {
  const out = new Map<string, FileContent>();
  const wanted = new Map<number, Array<{ path: string; entry: TreeEntry; take: number }>>();
  for (const request of paths) {
    const path = typeof request === 'string' ? request : request.path;
    const max = typeof request === 'string' ? limit : request.limit;
    const r = tree.resolve(path);
    if (!r.ok) out.set(path, { ok: false, reason: `${r.reason} (${r.path})` });
    else if (!r.entry || r.entry.type !== 'file') out.set(path, { ok: false, reason: r.entry ? `not a regular file (${r.entry.type})` : 'a directory' });
    else wanted.set(r.entry.layer, [...(wanted.get(r.entry.layer) ?? []), { path, entry: r.entry, take: Math.max(0, Math.min(r.entry.size, max)) }]);
  }
  for (const [index, items] of wanted) {
    const layer = tree.layers[index] as Descriptor;
    if (layerCompression(layer.mediaType) === 'none') {
      const handle = await open(source.blobFile(layer), 'r');
      try {
        for (const { path, entry, take } of items) {
          const data = Buffer.alloc(take);
          const { bytesRead } = await handle.read(data, 0, data.length, entry.offset);
          out.set(path, { ok: true, data: data.subarray(0, bytesRead), truncated: entry.size > bytesRead });
        }
      } finally {
        await handle.close();
      }
      continue;
    }
    const sorted = [...items].sort((a, b) => a.entry.offset - b.entry.offset);
    const buffers = new Map(sorted.map((i) => [i.path, Buffer.alloc(i.take)]));
    const end = Math.max(...sorted.map((i) => i.entry.offset + i.take));
    let pos = 0;
    const stream = decompressedLayer(source.openLayer(layer), layer);
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
