import { link, mkdir, open, readdir, readFile, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, isErrno, isProcessAlive, tempSiblingOwner, writeFileReplacing } from '../core/index.ts';
import { DATA_UNCOMPRESSED } from './squashfs-format.ts';

/** One data or fragment block of a SquashFS image: its cache key (sha256 of the raw bytes), where it starts, its size field. */
export interface PackedBlock {
  key: string;
  start: number;
  /** The on-disk size, with {@link DATA_UNCOMPRESSED} set when the bytes are stored raw. */
  sizeField: number;
}

/** A block as stored: the bytes that go into an image, and whether they are raw (deflate did not pay). */
export interface BlockBytes {
  bytes: Buffer;
  raw: boolean;
}

/** Compressed blocks by content, read from the images earlier exports wrote. */
export interface BlockPacks {
  /** Whether a block with this key is in a pack. */
  has(key: string): boolean;
  /** A block's stored bytes (a view into a window of its pack: copy what is kept); undefined when it is in no pack (or its pack went since the packs were opened). */
  get(key: string): Promise<BlockBytes | undefined>;
  /** Keeps `image` (a finished SquashFS file on the cache's filesystem, never written again) as a pack of `blocks`: a hard link and an index, no copy. */
  add(image: string, blocks: readonly PackedBlock[]): Promise<void>;
  /** Marks the packs read as recently used (their index's mtime: the size bound evicts the others first) and closes them. */
  close(): Promise<void>;
}

/** An index starts with a header: magic, version, then the pack's size (u64) and mtime (f64, ms) when it was indexed. */
const MAGIC = 0x5051534b; // "KSQP"
const HEADER = 24;
/** Bytes of one index entry: the raw sha256, the block's offset (u64), its size field (u32). */
const ENTRY = 44;
const PACK = '.pack';
const INDEX = '.idx';
/** Bytes of a pack read at once when a block is asked for. */
const WINDOW = 4 << 20;

interface Location {
  pack: string;
  offset: number;
  sizeField: number;
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)));
}

async function statOf(path: string): Promise<import('node:fs').Stats | undefined> {
  return stat(path).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
}

/**
 * The packs of `dir` whose index is whole and still describes them, least recently used
 * first (an export that reads a pack touches its index). A pack is an exported file too
 * (hard links all): one written into since (its size or mtime changed) is not trusted.
 */
async function packsOf(dir: string): Promise<Array<{ name: string; used: number; size: number; index: Buffer }>> {
  const names = await list(dir);
  const out = [];
  for (const name of names) {
    if (!name.endsWith(PACK) || !names.includes(name.slice(0, -PACK.length) + INDEX)) continue;
    const base = name.slice(0, -PACK.length);
    const [pack, idx] = await Promise.all([statOf(join(dir, name)), statOf(join(dir, base + INDEX))]);
    const index = idx && (await readFile(join(dir, base + INDEX)).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err))));
    if (!pack || !idx || !index || index.length < HEADER || (index.length - HEADER) % ENTRY !== 0) continue;
    if (index.readUInt32LE(0) !== MAGIC || index.readUInt32LE(4) !== 1) continue;
    if (Number(index.readBigUInt64LE(8)) !== pack.size || index.readDoubleLE(16) !== pack.mtimeMs) continue;
    out.push({ name: base, used: idx.mtimeMs, size: pack.size, index });
  }
  return out.sort((a, b) => a.used - b.used || a.name.localeCompare(b.name));
}

/** Every key of the trusted packs in `dir` and where it is (a key in several packs: the most recently used one). */
async function readIndexes(dir: string): Promise<Map<string, Location>> {
  const index = new Map<string, Location>();
  for (const { name, index: bytes } of await packsOf(dir)) {
    for (let at = HEADER; at < bytes.length; at += ENTRY) {
      index.set(bytes.toString('hex', at, at + 32), { pack: name, offset: Number(bytes.readBigUInt64LE(at + 32)), sizeField: bytes.readUInt32LE(at + 40) });
    }
  }
  return index;
}

/**
 * Opens the block packs in `dir`. A pack is an image an earlier export wrote, hard-linked
 * (`<pid>-<random>.pack`) beside the index of its blocks (`.idx`, written last by rename):
 * keeping a cold export's blocks costs a link and a small file, not a write per block.
 */
export async function openBlockPacks(dir: string): Promise<BlockPacks> {
  const index = await readIndexes(dir);
  const handles = new Map<string, Promise<FileHandle>>();
  // Blocks are asked for mostly in the order the pack holds them (a layer replayed): one read serves a window of them.
  const windows = new Map<string, { start: number; bytes: Promise<Buffer> }>();
  const used = new Set<string>();
  const handle = (pack: string): Promise<FileHandle> => {
    let fh = handles.get(pack);
    if (!fh) {
      fh = open(join(dir, pack + PACK), 'r');
      fh.catch(() => undefined);
      handles.set(pack, fh);
    }
    return fh;
  };
  const readWindow = async (pack: string, start: number, length: number): Promise<Buffer> => {
    const file = await handle(pack);
    const bytes = Buffer.allocUnsafe(length);
    const { bytesRead } = await file.read(bytes, 0, length, start);
    return bytes.subarray(0, bytesRead);
  };
  return {
    has: (key) => index.has(key),
    get: async (key) => {
      const at = index.get(key);
      if (!at) return undefined;
      const length = at.sizeField & ~DATA_UNCOMPRESSED;
      let w = windows.get(at.pack);
      if (!w || at.offset < w.start || at.offset + length > w.start + WINDOW) {
        w = { start: at.offset, bytes: readWindow(at.pack, at.offset, Math.max(WINDOW, length)) };
        w.bytes.catch(() => undefined);
        windows.set(at.pack, w);
      }
      let bytes: Buffer;
      try {
        bytes = await w.bytes;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
      used.add(at.pack);
      const from = at.offset - w.start;
      if (bytes.length < from + length) throw new KilnError(ErrorCode.IO, `block pack ${at.pack} is shorter than its index says`, { hint: 'run `kiln store gc`, then the export again' });
      return { bytes: bytes.subarray(from, from + length), raw: (at.sizeField & DATA_UNCOMPRESSED) !== 0 };
    },
    add: async (image, blocks) => {
      if (blocks.length === 0) return;
      await mkdir(dir, { recursive: true });
      const name = `${process.pid}-${process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex')}`;
      await link(image, join(dir, name + PACK));
      const info = await stat(join(dir, name + PACK));
      const entries = Buffer.alloc(HEADER + blocks.length * ENTRY);
      entries.writeUInt32LE(MAGIC, 0);
      entries.writeUInt32LE(1, 4);
      entries.writeBigUInt64LE(BigInt(info.size), 8);
      entries.writeDoubleLE(info.mtimeMs, 16);
      blocks.forEach((b, i) => {
        const at = HEADER + i * ENTRY;
        entries.write(b.key, at, 32, 'hex');
        entries.writeBigUInt64LE(BigInt(b.start), at + 32);
        entries.writeUInt32LE(b.sizeField >>> 0, at + 40);
      });
      try {
        await writeFileReplacing(join(dir, name + INDEX), entries);
      } catch (err) {
        await rm(join(dir, name + PACK), { force: true });
        throw err;
      }
    },
    close: async () => {
      const now = new Date();
      for (const pack of used) await utimes(join(dir, pack + INDEX), now, now).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
      for (const fh of handles.values()) await fh.then((f) => f.close(), () => undefined);
      handles.clear();
    },
  };
}

/** The pid of the process writing a pack, an index or an index's temporary file, from its name. */
function ownerOf(name: string): number | undefined {
  const m = /^(\d+)-[0-9a-f]+\.(?:pack|idx)$/u.exec(name);
  return m ? Number(m[1]) : tempSiblingOwner(name);
}

/**
 * For gc: removes the packs of `dir` no key of `keep` resolves to (a key in several packs
 * resolves to the most recently used), packs written into since they were indexed, and the
 * halves of packs whose writer died before finishing. Returns how many files went.
 */
export async function prunePacks(dir: string, keep: ReadonlySet<string>): Promise<number> {
  const index = await readIndexes(dir);
  const needed = new Set<string>();
  for (const key of keep) {
    const at = index.get(key);
    if (at) needed.add(at.pack);
  }
  const names = await list(dir);
  let removed = 0;
  for (const name of names) {
    const base = name.replace(/\.(?:pack|idx)$/u, '');
    if (needed.has(base)) continue;
    // A whole pair that is not needed goes (unused, or written into since); a half only once its writer is gone.
    const whole = names.includes(base + PACK) && names.includes(base + INDEX);
    const owner = ownerOf(name);
    if (!whole && owner !== undefined && isProcessAlive(owner)) continue;
    await rm(join(dir, name), { force: true });
    removed++;
  }
  return removed;
}

/**
 * Keeps the packs of `dirs` within `maxBytes` altogether: the least recently used go first
 * (an export that reads a pack touches it). Returns the bytes kept and the packs removed.
 */
export async function boundPacks(dirs: readonly string[], maxBytes: number): Promise<{ bytes: number; removed: number }> {
  const packs = [];
  for (const dir of dirs) for (const p of await packsOf(dir)) packs.push({ ...p, dir });
  let bytes = packs.reduce((s, p) => s + p.size, 0);
  let removed = 0;
  packs.sort((a, b) => a.used - b.used);
  for (const p of packs) {
    if (bytes <= maxBytes) break;
    // The index first: a pack without one is never read.
    await rm(join(p.dir, p.name + INDEX), { force: true });
    await rm(join(p.dir, p.name + PACK), { force: true });
    bytes -= p.size;
    removed++;
  }
  return { bytes, removed };
}
