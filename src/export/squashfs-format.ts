/**
 * SquashFS 4.0 on-disk encoding (pure; no I/O): superblock, inodes, directory listings,
 * metadata blocks. Layout as in the kernel's Documentation/filesystems/squashfs.rst and
 * squashfs-tools' squashfs_fs.h; everything is little-endian.
 */

export const SQUASHFS_MAGIC = 0x73717368;
export const METADATA_SIZE = 8192;
/** Bit of a data block or fragment size: stored uncompressed. */
export const DATA_UNCOMPRESSED = 1 << 24;
/** Bit of a metadata block header: stored uncompressed. */
const META_UNCOMPRESSED = 0x8000;
export const NO_FRAGMENT = 0xffffffff;
export const NO_XATTR = 0xffffffff;
export const NO_TABLE = 0xffffffffffffffffn;
export const COMPRESSOR_GZIP = 1;

/** Basic inode types; the extended type is basic + 7. */
export const InodeType = { dir: 1, file: 2, symlink: 3, block: 4, char: 5, fifo: 6, socket: 7 } as const;
export type InodeKind = keyof typeof InodeType;

/** The 96-byte superblock. */
export interface Superblock {
  inodeCount: number;
  mkfsTime: number;
  blockSize: number;
  fragmentCount: number;
  idCount: number;
  flags: number;
  rootInode: bigint;
  bytesUsed: bigint;
  idTable: bigint;
  xattrTable: bigint;
  inodeTable: bigint;
  directoryTable: bigint;
  fragmentTable: bigint;
}

export function encodeSuperblock(s: Superblock): Buffer {
  const b = Buffer.alloc(96);
  b.writeUInt32LE(SQUASHFS_MAGIC, 0);
  b.writeUInt32LE(s.inodeCount, 4);
  b.writeUInt32LE(s.mkfsTime >>> 0, 8);
  b.writeUInt32LE(s.blockSize, 12);
  b.writeUInt32LE(s.fragmentCount, 16);
  b.writeUInt16LE(COMPRESSOR_GZIP, 20);
  b.writeUInt16LE(Math.log2(s.blockSize), 22);
  b.writeUInt16LE(s.flags, 24);
  b.writeUInt16LE(s.idCount, 26);
  b.writeUInt16LE(4, 28);
  b.writeUInt16LE(0, 30);
  b.writeBigUInt64LE(s.rootInode, 32);
  b.writeBigUInt64LE(s.bytesUsed, 40);
  b.writeBigUInt64LE(s.idTable, 48);
  b.writeBigUInt64LE(s.xattrTable, 56);
  b.writeBigUInt64LE(s.inodeTable, 64);
  b.writeBigUInt64LE(s.directoryTable, 72);
  b.writeBigUInt64LE(s.fragmentTable, 80);
  b.writeBigUInt64LE(NO_TABLE, 88);
  return b;
}

/** The kernel's new_encode_dev(). */
export function encodeRdev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** What every inode starts with. */
export interface InodeHeader {
  kind: InodeKind;
  extended: boolean;
  mode: number;
  uidIndex: number;
  gidIndex: number;
  mtime: number;
  number: number;
}

function header(h: InodeHeader, rest: number): Buffer {
  const b = Buffer.alloc(16 + rest);
  b.writeUInt16LE(InodeType[h.kind] + (h.extended ? 7 : 0), 0);
  b.writeUInt16LE(h.mode & 0o7777, 2);
  b.writeUInt16LE(h.uidIndex, 4);
  b.writeUInt16LE(h.gidIndex, 6);
  b.writeUInt32LE(h.mtime >>> 0, 8);
  b.writeUInt32LE(h.number, 12);
  return b;
}

/** A regular file inode: basic when it fits, extended otherwise. */
export function encodeFileInode(h: InodeHeader, f: { start: number; size: number; fragment: number; fragmentOffset: number; nlink: number; xattr: number; blocks: readonly number[] }): Buffer {
  const extended = h.extended || f.nlink > 1 || f.xattr !== NO_XATTR || f.start > 0xffffffff || f.size > 0xffffffff;
  const list = Buffer.alloc(4 * f.blocks.length);
  f.blocks.forEach((size, i) => list.writeUInt32LE(size, 4 * i));
  if (!extended) {
    const b = header({ ...h, extended }, 16);
    b.writeUInt32LE(f.start, 16);
    b.writeUInt32LE(f.fragment, 20);
    b.writeUInt32LE(f.fragmentOffset, 24);
    b.writeUInt32LE(f.size, 28);
    return Buffer.concat([b, list]);
  }
  const b = header({ ...h, extended }, 40);
  b.writeBigUInt64LE(BigInt(f.start), 16);
  b.writeBigUInt64LE(BigInt(f.size), 24);
  b.writeBigUInt64LE(0n, 32);
  b.writeUInt32LE(f.nlink, 40);
  b.writeUInt32LE(f.fragment, 44);
  b.writeUInt32LE(f.fragmentOffset, 48);
  b.writeUInt32LE(f.xattr, 52);
  return Buffer.concat([b, list]);
}

/** One entry of an extended directory's index: where a listing header starts. */
export interface DirIndex { index: number; start: number; name: Buffer }

/** A directory inode; `size` is the listing's length + 3, as mksquashfs and the kernel count it. */
export function encodeDirInode(h: InodeHeader, d: { start: number; offset: number; size: number; nlink: number; parent: number; xattr: number; index: readonly DirIndex[] }): Buffer {
  const extended = h.extended || d.xattr !== NO_XATTR || d.size > 0xffff || d.index.length > 0;
  if (!extended) {
    const b = header({ ...h, extended }, 16);
    b.writeUInt32LE(d.start, 16);
    b.writeUInt32LE(d.nlink, 20);
    b.writeUInt16LE(d.size, 24);
    b.writeUInt16LE(d.offset, 26);
    b.writeUInt32LE(d.parent, 28);
    return b;
  }
  const b = header({ ...h, extended }, 24);
  b.writeUInt32LE(d.nlink, 16);
  b.writeUInt32LE(d.size, 20);
  b.writeUInt32LE(d.start, 24);
  b.writeUInt32LE(d.parent, 28);
  b.writeUInt16LE(d.index.length, 32);
  b.writeUInt16LE(d.offset, 34);
  b.writeUInt32LE(d.xattr, 36);
  const parts = [b];
  for (const i of d.index) {
    const e = Buffer.alloc(12);
    e.writeUInt32LE(i.index, 0);
    e.writeUInt32LE(i.start, 4);
    e.writeUInt32LE(i.name.length - 1, 8);
    parts.push(e, i.name);
  }
  return Buffer.concat(parts);
}

/** Symlinks, devices, FIFOs and sockets. */
export function encodeOtherInode(h: InodeHeader, o: { nlink: number; xattr: number; target?: Buffer; rdev?: number }): Buffer {
  const extended = h.extended || o.xattr !== NO_XATTR;
  const xattr = (): Buffer => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(o.xattr, 0);
    return x;
  };
  if (h.kind === 'symlink') {
    const target = o.target ?? Buffer.alloc(0);
    const b = header({ ...h, extended }, 8);
    b.writeUInt32LE(o.nlink, 16);
    b.writeUInt32LE(target.length, 20);
    return Buffer.concat(extended ? [b, target, xattr()] : [b, target]);
  }
  if (h.kind === 'block' || h.kind === 'char') {
    const b = header({ ...h, extended }, 8);
    b.writeUInt32LE(o.nlink, 16);
    b.writeUInt32LE(o.rdev ?? 0, 20);
    return extended ? Buffer.concat([b, xattr()]) : b;
  }
  const b = header({ ...h, extended }, 4);
  b.writeUInt32LE(o.nlink, 16);
  return extended ? Buffer.concat([b, xattr()]) : b;
}

/** A child as a directory listing names it. */
export interface ListingEntry { name: Buffer; kind: InodeKind; number: number; block: number; offset: number }

/**
 * A directory's listing: runs of at most 256 entries sharing the inode metadata block,
 * with inode numbers within a signed 16-bit delta of the run's base. Returns the bytes and
 * the position and first name of each run (for the directory index).
 */
export function encodeListing(entries: readonly ListingEntry[]): { bytes: Buffer; runs: Array<{ at: number; name: Buffer }> } {
  const parts: Buffer[] = [];
  const runs: Array<{ at: number; name: Buffer }> = [];
  let at = 0;
  let i = 0;
  while (i < entries.length) {
    const first = entries[i] as ListingEntry;
    let n = 0;
    let bytes = 12;
    const body: Buffer[] = [];
    while (i + n < entries.length && n < 256) {
      const e = entries[i + n] as ListingEntry;
      const delta = e.number - first.number;
      if (e.block !== first.block || delta < -32768 || delta > 32767) break;
      if (n > 0 && bytes + 8 + e.name.length > METADATA_SIZE) break;
      const d = Buffer.alloc(8);
      d.writeUInt16LE(e.offset, 0);
      d.writeInt16LE(delta, 2);
      d.writeUInt16LE(InodeType[e.kind], 4);
      d.writeUInt16LE(e.name.length - 1, 6);
      body.push(d, e.name);
      bytes += 8 + e.name.length;
      n++;
    }
    const h = Buffer.alloc(12);
    h.writeUInt32LE(n - 1, 0);
    h.writeUInt32LE(first.block, 4);
    h.writeUInt32LE(first.number, 8);
    runs.push({ at, name: first.name });
    parts.push(h, ...body);
    at += bytes;
    i += n;
  }
  return { bytes: Buffer.concat(parts), runs };
}

/** A metadata block as stored: a 2-byte header (length, uncompressed bit) then the data. */
export function metadataBlock(raw: Buffer, compressed: Buffer): Buffer {
  const useRaw = compressed.length >= raw.length;
  const data = useRaw ? raw : compressed;
  const h = Buffer.alloc(2);
  h.writeUInt16LE(data.length | (useRaw ? META_UNCOMPRESSED : 0), 0);
  return Buffer.concat([h, data]);
}

/** xattr name prefixes SquashFS can store, by type number. */
const XATTR_PREFIXES: ReadonlyArray<[string, number]> = [['user.', 0], ['trusted.', 1], ['security.', 2]];

/** One xattr as the key/value table stores it, or undefined when SquashFS has no prefix for it. */
export function encodeXattr(name: string, value: Buffer): Buffer | undefined {
  const prefix = XATTR_PREFIXES.find(([p]) => name.startsWith(p));
  if (!prefix) return undefined;
  const short = Buffer.from(name.slice(prefix[0].length), 'utf8');
  const b = Buffer.alloc(4 + short.length + 4);
  b.writeUInt16LE(prefix[1], 0);
  b.writeUInt16LE(short.length, 2);
  short.copy(b, 4);
  b.writeUInt32LE(value.length, 4 + short.length);
  return Buffer.concat([b, value]);
}
