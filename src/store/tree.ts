import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, TarScanner, createDecompressor, digestHex, isErrno, isTarHeader, layerCompression, parsePaxRecords,
  parseTarNumber, safeMemberName, writeFileAtomic,
} from '../core/index.ts';
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

/** A layer member as scanned: the tree entry fields, with the name as written in the tar. */
type Member = Omit<TreeEntry, 'layer'>;

/** Scans a layer's tar headers from a stream (no data kept). */
async function scanStream(layer: Descriptor, stream: Readable): Promise<Member[]> {
  const members: Member[] = [];
  const scanner = new TarScanner(`layer ${layer.digest}`, (m) => {
    members.push({ path: m.name, type: m.type as TreeEntry['type'], mode: m.mode, uid: m.uid, gid: m.gid, size: m.size, linkname: m.linkname, offset: m.offset, ...(m.xattrs ? { xattrs: m.xattrs } : {}) });
  });
  for await (const chunk of decompressed(stream, layer)) scanner.push(chunk as Buffer);
  scanner.end();
  return members;
}

const BLOCK = 512;
const WINDOW = 1 << 16;
const META_LIMIT = 1 << 20;
const TYPES: Record<string, TreeEntry['type']> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };

function tarText(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

/**
 * Scans an uncompressed tar file by hopping from header to header with positional reads,
 * never reading file data (the same fields as {@link TarScanner}). Small members share one
 * read window; big ones are skipped over.
 */
function scanFile(file: string, what: string): Member[] {
  // Synchronous positional reads: thousands of small reads through the thread pool
  // would cost more in round trips than the reads themselves.
  const fd = openSync(file, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const window = Buffer.alloc(WINDOW);
    let winStart = 0;
    let winLength = 0;
    /** Bytes at [offset, offset+length), copied when `copy` (the window is reused). */
    const read = (offset: number, length: number, copy = false): Buffer => {
      if (offset < winStart || offset + length > winStart + winLength) {
        if (length > WINDOW) {
          const big = Buffer.alloc(length);
          return big.subarray(0, readSync(fd, big, 0, length, offset));
        }
        winStart = offset;
        winLength = readSync(fd, window, 0, WINDOW, offset);
      }
      const view = window.subarray(offset - winStart, Math.min(offset - winStart + length, winLength));
      return copy ? Buffer.from(view) : view;
    };
    const truncated = (): KilnError => new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar stream ends inside a member`, { hint: 'the layer is truncated' });
    const members: Member[] = [];
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    let offset = 0;
    for (;;) {
      const block = read(offset, BLOCK);
      if (block.length < BLOCK) throw truncated();
      if (block.every((b) => b === 0)) break;
      if (!isTarHeader(block)) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: invalid tar header at offset ${offset}`);
      const flag = String.fromCharCode(block[156] ?? 0);
      let size = parseTarNumber(block, 124, 12);
      const dataOffset = offset + BLOCK;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > META_LIMIT) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar metadata record of ${size} bytes`);
        const data = read(dataOffset, size, true);
        if (data.length < size) throw truncated();
        if (flag === 'x') pax = parsePaxRecords(data);
        else if (flag === 'L') longName = tarText(data, 0, data.length);
        else if (flag === 'K') longLink = tarText(data, 0, data.length);
        offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
        continue;
      }
      const posixHeader = block.subarray(257, 263).toString('latin1') === 'ustar\0';
      const prefix = posixHeader ? tarText(block, 345, 155) : '';
      const base = tarText(block, 0, 100);
      if (pax.size !== undefined) size = Number(pax.size);
      const xattrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
      const member: Member = {
        path: pax.path ?? longName ?? (prefix ? `${prefix}/${base}` : base),
        type: TYPES[flag] ?? 'file',
        mode: parseTarNumber(block, 100, 8),
        uid: pax.uid !== undefined ? Number(pax.uid) : parseTarNumber(block, 108, 8),
        gid: pax.gid !== undefined ? Number(pax.gid) : parseTarNumber(block, 116, 8),
        size: flag === '5' || flag === '1' || flag === '2' ? 0 : size,
        linkname: pax.linkpath ?? longLink ?? tarText(block, 157, 100),
        offset: dataOffset,
        ...(Object.keys(xattrs).length > 0 ? { xattrs } : {}),
      };
      [pax, longName, longLink] = [{}, undefined, undefined];
      members.push(member);
      offset = dataOffset + Math.ceil(member.size / BLOCK) * BLOCK;
      if (offset > fileSize) throw truncated();
    }
    return members;
  } finally {
    closeSync(fd);
  }
}

const CACHE_VERSION = 1;
type CachedMember = [string, TreeEntry['type'], number, number, number, number, string, number, Record<string, string>?];

/** A layer's members from the index cache, or undefined (absent, other version, unreadable). */
async function readCache(file: string): Promise<Member[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  let parsed: { version?: unknown; members?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return undefined; // a damaged cache entry is rebuilt, never trusted
  }
  if (parsed.version !== CACHE_VERSION || !Array.isArray(parsed.members)) return undefined;
  return (parsed.members as CachedMember[]).map(([path, type, mode, uid, gid, size, linkname, offset, xattrs]) => ({
    path, type, mode, uid, gid, size, linkname, offset, ...(xattrs ? { xattrs } : {}),
  }));
}

async function writeCache(dir: string, file: string, members: readonly Member[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rows: CachedMember[] = members.map((m) => {
    const row: CachedMember = [m.path, m.type, m.mode, m.uid, m.gid, m.size, m.linkname, m.offset];
    if (m.xattrs) row.push(m.xattrs);
    return row;
  });
  await writeFileAtomic(file, JSON.stringify({ version: CACHE_VERSION, members: rows }));
}

/** Where {@link readImageTree} may read layers from besides a stream, and where it caches their indexes. */
export interface TreeOptions {
  /** The file of a stored blob: uncompressed layers are then read in place, header to header. */
  blobFile?: (layer: Descriptor) => string;
  /** A directory for per-layer indexes (<hex>.json); layers are immutable, so an index never goes stale. */
  cacheDir?: string;
}

async function layerMembers(layer: Descriptor, openLayer: (layer: Descriptor) => Readable, options: TreeOptions): Promise<Member[]> {
  const cacheFile = options.cacheDir ? join(options.cacheDir, `${digestHex(layer.digest)}.json`) : undefined;
  const cached = cacheFile ? await readCache(cacheFile) : undefined;
  if (cached) return cached;
  const members = options.blobFile && layerCompression(layer.mediaType) === 'none'
    ? scanFile(options.blobFile(layer), `layer ${layer.digest}`)
    : await scanStream(layer, openLayer(layer));
  if (cacheFile && options.cacheDir) await writeCache(options.cacheDir, cacheFile, members);
  return members;
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
  source: { blobFile: (layer: Descriptor) => string; openLayer: (layer: Descriptor) => Readable },
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
