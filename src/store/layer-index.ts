import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Readable } from 'node:stream';
import {
  KilnError, ErrorCode, TarScanner, decompressedStream, digestHex, layerCompression, safeMemberName, walkTarFile,
  type ScannedMember,
} from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import { OPAQUE, WHITEOUT, isWhiteoutName } from './whiteout.ts';

/** The layer's uncompressed tar stream; destroying it also closes the blob; corruption is DIGEST_MISMATCH. */
export function decompressedLayer(stream: Readable, layer: Descriptor): Readable {
  const compression = layerCompression(layer.mediaType);
  if (compression === undefined) throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest}: unsupported media type ${layer.mediaType}`);
  return decompressedStream(stream, compression, `layer ${layer.digest}`);
}

/** The type of an indexed path: a member's, or a directory only implied by the members below it. */
export type IndexedType = ScannedMember['type'] | 'implied';

/** One path of one layer as its index holds it. */
export interface IndexedEntry {
  type: IndexedType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
  offset: number;
  xattrs?: Record<string, string>;
}

/**
 * A layer's index, read from disk on demand: entries by (directory, name), whiteouts,
 * and the names refused as unsafe. Nothing is loaded up front, so opening the index of a
 * layer of millions of members costs the same as opening a small one.
 */
export interface LayerIndex {
  /** The entry at `dir`/`name` ("" is the root directory); the last one when the layer lists it twice. */
  get(dir: string, name: string): IndexedEntry | undefined;
  /** The entries directly under `dir`, by name, implied directories included. */
  children(dir: string): IterableIterator<{ name: string; entry: IndexedEntry }>;
  /** Whether a whiteout of this layer hides `path` (and what is below it) in lower layers. */
  whitedOut(path: string): boolean;
  /** Whether an opaque-directory marker of this layer hides what lower layers hold under `dir`. */
  opaque(dir: string): boolean;
  /** The first few member names refused because they would escape the root, and how many there were. */
  unsafe: { names: readonly string[]; count: number };
  close(): void;
}

/** Bump when the index format changes: an index of another version is rebuilt. */
const INDEX_VERSION = 2;
const FILE_EXTENSION = '.index.db';
const UNSAFE_EXAMPLES = 20;
/** The parent of the root directory's own row (no tree path starts with "/"). */
const ROOT_PARENT = '/';
const TYPES: readonly IndexedType[] = ['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'implied'];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i]));

const SCHEMA = `
  PRAGMA journal_mode = OFF;
  PRAGMA synchronous = OFF;
  PRAGMA cache_size = -8192;
  CREATE TABLE entries(parent TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL, type INTEGER NOT NULL, mode INTEGER NOT NULL,
    uid INTEGER NOT NULL, gid INTEGER NOT NULL, size INTEGER NOT NULL, linkname TEXT NOT NULL, offset INTEGER NOT NULL, xattrs TEXT,
    PRIMARY KEY(parent, name, seq)) WITHOUT ROWID;
  CREATE TABLE hides(path TEXT NOT NULL, opaque INTEGER NOT NULL, PRIMARY KEY(path, opaque)) WITHOUT ROWID;
  CREATE TABLE unsafe(name TEXT NOT NULL);
  CREATE TABLE parents(path TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;

function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}

/** Builds a layer index file member by member, in bounded memory (SQLite keeps it on disk). */
export interface LayerIndexWriter {
  add(member: ScannedMember): void;
  /** Completes the index (implied directories) and closes it; the file is then ready to move into place. */
  finish(): void;
  /** Closes and deletes the partial file. */
  abort(): Promise<void>;
  file: string;
}

/** Starts a layer index at `file` (which must not exist). */
export function createLayerIndexWriter(file: string): LayerIndexWriter {
  const db = new DatabaseSync(file);
  db.exec(SCHEMA);
  db.exec('BEGIN');
  const insert = db.prepare('INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const insertParent = db.prepare('INSERT OR IGNORE INTO parents VALUES (?)');
  const insertHide = db.prepare('INSERT OR IGNORE INTO hides VALUES (?, ?)');
  const insertUnsafe = db.prepare('INSERT INTO unsafe VALUES (?)');
  let seq = 0;
  let unsafeCount = 0;
  let lastParent: string | undefined;
  let open = true;
  const close = (): void => {
    if (open) db.close();
    open = false;
  };
  return {
    file,
    add(m) {
      const path = safeMemberName(m.name);
      const link = m.type === 'hardlink' ? safeMemberName(m.linkname) : m.linkname;
      if (path === undefined || link === undefined) {
        if (unsafeCount++ < UNSAFE_EXAMPLES) insertUnsafe.run(m.name);
        return;
      }
      const [parent, name] = path === '' ? [ROOT_PARENT, ''] : splitPath(path);
      if (name !== OPAQUE && name.startsWith(WHITEOUT) && !isWhiteoutName(name)) {
        // ".wh.", ".wh.." or ".wh...": a whiteout of the directory itself or of its parent.
        if (unsafeCount++ < UNSAFE_EXAMPLES) insertUnsafe.run(m.name);
        return;
      }
      if (name === OPAQUE) {
        insertHide.run(parent, 1);
        return;
      }
      if (name.startsWith(WHITEOUT)) {
        insertHide.run(parent === '' ? name.slice(WHITEOUT.length) : `${parent}/${name.slice(WHITEOUT.length)}`, 0);
        return;
      }
      if (parent !== lastParent && parent !== ROOT_PARENT) insertParent.run(parent);
      lastParent = parent;
      const xattrs = m.xattrs ? JSON.stringify(m.xattrs) : null;
      insert.run(parent, name, seq++, TYPE_CODE.get(m.type) ?? 0, m.mode, m.uid, m.gid, m.size, link, m.offset, xattrs);
    },
    finish() {
      // Every ancestor of a member is a directory even when the tar does not list it.
      const exists = db.prepare('SELECT 1 FROM entries WHERE parent = ? AND name = ? LIMIT 1');
      const implied = TYPE_CODE.get('implied') as number;
      for (const row of db.prepare('SELECT path FROM parents').iterate()) {
        for (let dir = row.path as string; dir !== ''; dir = splitPath(dir)[0]) {
          const [parent, name] = splitPath(dir);
          if (exists.get(parent, name)) break;
          insert.run(parent, name, -1, implied, 0o755, 0, 0, 0, '', 0, null);
        }
      }
      db.exec('DELETE FROM parents');
      db.prepare('INSERT INTO meta VALUES (?, ?)').run('unsafe', unsafeCount);
      db.exec(`COMMIT; PRAGMA user_version = ${INDEX_VERSION}`);
      close();
    },
    async abort() {
      close();
      await rm(file, { force: true });
    },
  };
}

function toEntry(row: Record<string, unknown>): IndexedEntry {
  const entry: IndexedEntry = {
    type: TYPES[row.type as number] ?? 'file',
    mode: row.mode as number,
    uid: row.uid as number,
    gid: row.gid as number,
    size: row.size as number,
    linkname: row.linkname as string,
    offset: row.offset as number,
  };
  if (typeof row.xattrs === 'string') entry.xattrs = JSON.parse(row.xattrs) as Record<string, string>;
  return entry;
}

/** Opens a finished layer index, or returns undefined when the file is of another version or damaged. */
export function openLayerIndex(file: string): LayerIndex | undefined {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { readOnly: true });
  } catch {
    return undefined; // absent or not a database: rebuilt, never trusted
  }
  let get: StatementSync;
  let children: StatementSync;
  let hide: StatementSync;
  let unsafe: LayerIndex['unsafe'];
  let hasHides: boolean;
  try {
    const version = db.prepare('PRAGMA user_version').get()?.user_version;
    if (version !== INDEX_VERSION) throw new Error(`index version ${String(version)}`);
    get = db.prepare('SELECT * FROM entries WHERE parent = ? AND name = ? ORDER BY seq DESC LIMIT 1');
    children = db.prepare('SELECT *, max(seq) FROM entries WHERE parent = ? GROUP BY name ORDER BY name');
    hide = db.prepare('SELECT 1 FROM hides WHERE path = ? AND opaque = ?');
    hasHides = db.prepare('SELECT 1 FROM hides LIMIT 1').get() !== undefined;
    const names = db.prepare('SELECT name FROM unsafe').all().map((r) => r.name as string);
    const count = db.prepare("SELECT value FROM meta WHERE key = 'unsafe'").get()?.value;
    if (typeof count !== 'number') throw new Error('unfinished index');
    unsafe = { names, count };
  } catch {
    db.close();
    return undefined;
  }
  return {
    get: (dir, name) => {
      const row = get.get(dir === '' && name === '' ? ROOT_PARENT : dir, name);
      return row ? toEntry(row) : undefined;
    },
    *children(dir) {
      for (const row of children.iterate(dir)) yield { name: row.name as string, entry: toEntry(row) };
    },
    whitedOut: (path) => hasHides && hide.get(path, 0) !== undefined,
    opaque: (dir) => hasHides && hide.get(dir, 1) !== undefined,
    unsafe,
    close: () => db.close(),
  };
}

/** Where {@link openLayerIndexes} may read layers from besides a stream, and where it caches their indexes. */
export interface TreeOptions {
  /** The file of a stored blob: uncompressed layers are then read in place, header to header. */
  blobFile?: (layer: Descriptor) => string;
  /** A directory for per-layer indexes (<hex>.index.db); layers are immutable, so an index never goes stale. */
  cacheDir?: string;
}

/** The file of a layer's cached index. */
export function layerIndexFile(cacheDir: string, layer: Descriptor): string {
  return join(cacheDir, `${digestHex(layer.digest)}${FILE_EXTENSION}`);
}

/** Indexes a layer into a new file at `file`: scanned in place when uncompressed, else streamed once. */
async function buildLayerIndex(file: string, layer: Descriptor, openLayer: (layer: Descriptor) => Readable, options: TreeOptions): Promise<void> {
  const what = `layer ${layer.digest}`;
  const writer = createLayerIndexWriter(file);
  try {
    if (options.blobFile && layerCompression(layer.mediaType) === 'none') {
      if (!walkTarFile(options.blobFile(layer), what, (m) => writer.add(m))) {
        throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} is not a tar archive`, { hint: 'the layer is corrupt; `kiln store verify` checks the store' });
      }
    } else {
      const scanner = new TarScanner(what, (m) => writer.add(m));
      for await (const chunk of decompressedLayer(openLayer(layer), layer)) scanner.push(chunk as Buffer);
      scanner.end();
    }
    writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

let tempSeq = 0;

/**
 * The index of a layer: from the cache when there, else built (and cached when there is a
 * cache directory; otherwise built in a temporary file removed once opened).
 */
export async function layerIndex(layer: Descriptor, openLayer: (layer: Descriptor) => Readable, options: TreeOptions, tmpDir: string): Promise<LayerIndex> {
  const cached = options.cacheDir ? openLayerIndex(layerIndexFile(options.cacheDir, layer)) : undefined;
  if (cached) return cached;
  const dir = options.cacheDir ?? tmpDir;
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${digestHex(layer.digest)}.${process.pid}.${tempSeq++}.tmp`);
  await rm(temp, { force: true });
  await buildLayerIndex(temp, layer, openLayer, options);
  let file = temp;
  if (options.cacheDir) {
    file = layerIndexFile(options.cacheDir, layer);
    await rename(temp, file);
  }
  const index = openLayerIndex(file);
  // Without a cache the open handle keeps the data; the name can go now.
  if (!options.cacheDir) await rm(temp, { force: true });
  if (!index) throw new KilnError(ErrorCode.IO, `cannot open the index of layer ${layer.digest} just written`);
  return index;
}

/** Moves an index built elsewhere (e.g. while importing the layer) into the cache. */
export async function adoptLayerIndex(cacheDir: string, layer: Descriptor, file: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  await rename(file, layerIndexFile(cacheDir, layer));
}
