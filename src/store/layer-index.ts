import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, TarScanner, decompressedStream, digestHex, isErrno, layerCompression, scanTarFile, writeFileAtomic,
  type ScannedMember,
} from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import type { TreeEntry } from './tree.ts';

/** The layer's uncompressed tar stream; destroying it also closes the blob; corruption is DIGEST_MISMATCH. */
export function decompressedLayer(stream: Readable, layer: Descriptor): Readable {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  return decompressedStream(stream, compression, `layer ${layer.digest}`);
}

/** A layer member as scanned: the tree entry fields, with the name as written in the tar. */
export type Member = Omit<TreeEntry, 'layer'>;

function toMember(m: ScannedMember): Member {
  return { path: m.name, type: m.type, mode: m.mode, uid: m.uid, gid: m.gid, size: m.size, linkname: m.linkname, offset: m.offset, ...(m.xattrs ? { xattrs: m.xattrs } : {}) };
}

/** Scans a layer's tar headers from a stream (no data kept). */
async function scanStream(layer: Descriptor, stream: Readable): Promise<Member[]> {
  const members: Member[] = [];
  const scanner = new TarScanner(`layer ${layer.digest}`, (m) => members.push(toMember(m)));
  for await (const chunk of decompressedLayer(stream, layer)) scanner.push(chunk as Buffer);
  scanner.end();
  return members;
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

function scanBlob(file: string, what: string): Member[] {
  const members = scanTarFile(file, what);
  if (!members) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} is not a tar archive`, { hint: 'the layer is corrupt; `kiln store verify` checks the store' });
  return members.map(toMember);
}

/** A layer's members: from the index cache, else scanned (in place when uncompressed) and cached. */
export async function layerMembers(layer: Descriptor, openLayer: (layer: Descriptor) => Readable, options: TreeOptions): Promise<Member[]> {
  const cacheFile = options.cacheDir ? join(options.cacheDir, `${digestHex(layer.digest)}.json`) : undefined;
  const cached = cacheFile ? await readCache(cacheFile) : undefined;
  if (cached) return cached;
  const members = options.blobFile && layerCompression(layer.mediaType) === 'none'
    ? scanBlob(options.blobFile(layer), `layer ${layer.digest}`)
    : await scanStream(layer, openLayer(layer));
  if (cacheFile && options.cacheDir) await writeCache(options.cacheDir, cacheFile, members);
  return members;
}


/** Records the index of a layer whose members were scanned elsewhere (e.g. while importing it). */
export async function saveLayerIndex(cacheDir: string, layer: Descriptor, members: readonly ScannedMember[]): Promise<void> {
  await writeCache(cacheDir, join(cacheDir, `${digestHex(layer.digest)}.json`), members.map(toMember));
}
