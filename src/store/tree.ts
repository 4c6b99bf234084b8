import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { layerCompression, safeMemberName } from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import { decompressedLayer, layerMembers, type TreeOptions } from './layer-index.ts';

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

/** Builds the merged tree of an image from its layers' headers, applying OCI whiteouts in order. */
export async function readImageTree(layers: readonly Descriptor[], openLayer: (layer: Descriptor) => Readable, options: TreeOptions = {}): Promise<ImageTree> {
  const entries = new Map<string, TreeEntry>();
  const unsafe: string[] = [];
  const dirs = new Set<string>();
  for (const [index, layer] of layers.entries()) {
    const members = await layerMembers(layer, openLayer, options);
    const added: TreeEntry[] = [];
    for (const m of members) {
      const path = safeMemberName(m.path);
      if (path === undefined || (m.type === 'hardlink' && safeMemberName(m.linkname) === undefined)) {
        unsafe.push(m.path);
        continue;
      }
      const base = posix.basename(path);
      const dir = path.includes('/') ? posix.dirname(path) : '';
      if (base === OPAQUE) {
        for (const key of [...entries.keys()]) if (dir === '' || key.startsWith(`${dir}/`)) entries.delete(key);
      } else if (base.startsWith(WHITEOUT)) {
        deleteTree(entries, dir === '' ? base.slice(WHITEOUT.length) : `${dir}/${base.slice(WHITEOUT.length)}`);
      } else {
        added.push({ ...m, path, layer: index, linkname: m.type === 'hardlink' ? (safeMemberName(m.linkname) ?? '') : m.linkname });
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
  // ...and is listed among its parent's children, as a directory of default attributes.
  for (const dir of [...index.keys()]) {
    if (dir !== '' && !entries.has(dir)) index.get(parentOfPath(dir))?.push({ path: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, linkname: '', layer: -1, offset: 0 });
  }
  return index;
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
