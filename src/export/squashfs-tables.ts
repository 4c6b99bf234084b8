import { deflateSync } from 'node:zlib';
import { KilnError, ErrorCode } from '../core/index.ts';
import { MetadataStream } from './squashfs-metadata.ts';
import {
  METADATA_SIZE, NO_FRAGMENT, NO_XATTR, encodeDirInode, encodeFileInode, encodeListing, encodeOtherInode,
  encodeRdev, encodeSuperblock, encodeXattr, metadataBlock, type DirIndex, type InodeKind, type ListingEntry,
} from './squashfs-format.ts';
import type { SqfsEntry } from './squashfs-writer.ts';

/** What the tables of an image are made of: its entries, and where the data region put the fragment blocks. */
export interface TablesInput {
  entries: ReadonlyMap<string, SqfsEntry>;
  /** gzip level of the metadata blocks. */
  level: number;
  blockSize: number;
  fragments: ReadonlyArray<{ start: number; size: number }>;
  /** Where the tables start: the end of the data region. */
  start: number;
}

/**
 * The inodes, directories, fragment, id and xattr tables of a SquashFS 4.0 image, to be
 * written at `start`, padded to 4 KiB, and its superblock (for offset 0); `size` is the
 * image's. Inode numbers follow the tree breadth first, so a directory's children are
 * consecutive (listing runs stay small). No I/O.
 */
export function encodeTables(input: TablesInput): { body: Buffer; superblock: Buffer; size: number } {
  const { entries, level, blockSize, fragments, start } = input;
  const root = entries.get('');
  if (!root || root.kind !== 'dir') throw new KilnError(ErrorCode.BAD_ARCHIVE, 'the filesystem has no root directory');
  const children = new Map<string, SqfsEntry[]>();
  for (const e of entries.values()) {
    if (e.path === '') continue;
    const slash = e.path.lastIndexOf('/');
    const parent = slash < 0 ? '' : e.path.slice(0, slash);
    const list = children.get(parent) ?? [];
    list.push(e);
    children.set(parent, list);
  }
  const nameOf = (e: SqfsEntry): Buffer => Buffer.from(e.path.slice(e.path.lastIndexOf('/') + 1), 'utf8');
  for (const list of children.values()) list.sort((a, b) => Buffer.compare(nameOf(a), nameOf(b)));
  const linkTarget = (e: SqfsEntry): SqfsEntry => {
    let t: SqfsEntry | undefined = e;
    for (let i = 0; t?.kind === 'hardlink' && i < 40; i++) t = entries.get(t.target ?? '');
    if (!t || t.kind === 'hardlink' || t.kind === 'dir') throw new KilnError(ErrorCode.BAD_ARCHIVE, `/${e.path} hardlinks to /${e.target ?? ''}, which is missing or a directory`);
    return t;
  };
  // Inode numbers: a directory's children get consecutive numbers (listing runs stay small).
  const numbers = new Map<SqfsEntry, number>([[root, 1]]);
  const nlinks = new Map<SqfsEntry, number>();
  let next = 2;
  const queue = [''];
  while (queue.length > 0) {
    const dir = queue.shift() as string;
    for (const c of children.get(dir) ?? []) {
      if (c.kind === 'hardlink') {
        const t = linkTarget(c);
        nlinks.set(t, (nlinks.get(t) ?? 1) + 1);
        continue;
      }
      numbers.set(c, next++);
      if (c.kind === 'dir') queue.push(c.path);
    }
  }
  const ids = new Map<number, number>();
  const idOf = (id: number): number => {
    let i = ids.get(id);
    if (i === undefined) ids.set(id, (i = ids.size));
    return i;
  };
  const kv = new MetadataStream(level);
  const xattrSets = new Map<string, number>();
  const xattrIds: Buffer[] = [];
  const xattrOf = (x: Record<string, Buffer> | undefined): number => {
    if (!x) return NO_XATTR;
    // Only the names SquashFS can store (user., trusted., security.): the count and the size below describe the same entries.
    const names = Object.keys(x).sort().filter((n) => encodeXattr(n, x[n] as Buffer) !== undefined);
    if (names.length === 0) return NO_XATTR;
    const encoded = names.map((n) => encodeXattr(n, x[n] as Buffer) as Buffer);
    const all = Buffer.concat(encoded);
    const key = all.toString('base64');
    let id = xattrSets.get(key);
    if (id === undefined) {
      const p = kv.position();
      kv.write(all);
      const rec = Buffer.alloc(16);
      rec.writeBigUInt64LE((BigInt(p.block) << 16n) | BigInt(p.offset), 0);
      rec.writeUInt32LE(encoded.length, 8);
      rec.writeUInt32LE(names.reduce((s, n) => s + Buffer.byteLength(n) + 1 + (x[n] as Buffer).length, 0), 12);
      xattrIds.push(rec);
      xattrSets.set(key, (id = xattrSets.size));
    }
    return id;
  };
  const inodes = new MetadataStream(level);
  const dirs = new MetadataStream(level);
  const refs = new Map<SqfsEntry, { block: number; offset: number }>();
  let mkfsTime = 0;
  const writeInode = (e: SqfsEntry, body: (h: Parameters<typeof encodeFileInode>[0]) => Buffer): { block: number; offset: number } => {
    const p = inodes.position();
    mkfsTime = Math.max(mkfsTime, e.mtime);
    inodes.write(body({ kind: e.kind as InodeKind, extended: false, mode: e.mode, uidIndex: idOf(e.uid), gidIndex: idOf(e.gid), mtime: e.mtime, number: numbers.get(e) as number }));
    refs.set(e, p);
    return p;
  };
  const writeLeaf = (e: SqfsEntry): { block: number; offset: number } => {
    const known = refs.get(e);
    if (known) return known;
    const nlink = nlinks.get(e) ?? 1;
    const xattr = xattrOf(e.xattrs);
    if (e.kind === 'file') {
      const d = e.data ?? { size: 0, start: 0, blocks: [], fragment: NO_FRAGMENT, fragmentOffset: 0 };
      return writeInode(e, (h) => encodeFileInode(h, { ...d, nlink, xattr }));
    }
    return writeInode(e, (h) => encodeOtherInode(h, { nlink, xattr, target: Buffer.from(e.target ?? '', 'utf8'), rdev: encodeRdev(e.major ?? 0, e.minor ?? 0) }));
  };
  const writeDir = (dir: SqfsEntry, parent: number): { block: number; offset: number } => {
    const listing: ListingEntry[] = [];
    let subdirs = 0;
    for (const c of children.get(dir.path) ?? []) {
      const inode = c.kind === 'hardlink' ? linkTarget(c) : c;
      const ref = inode.kind === 'dir' ? writeDir(inode, numbers.get(dir) as number) : writeLeaf(inode);
      if (inode.kind === 'dir') subdirs++;
      listing.push({ name: nameOf(c), kind: inode.kind as InodeKind, number: numbers.get(inode) as number, block: ref.block, offset: ref.offset });
    }
    const at = dirs.uncompressed;
    const p = dirs.position();
    const { bytes, runs } = encodeListing(listing);
    dirs.write(bytes);
    const index: DirIndex[] = [];
    if (Math.floor(at / METADATA_SIZE) !== Math.floor((at + bytes.length) / METADATA_SIZE)) {
      let last = -1;
      for (const run of runs) {
        const block = dirs.startOf(at + run.at);
        if (block !== last && run.at > 0) index.push({ index: run.at, start: block, name: run.name });
        last = block;
      }
    }
    const xattr = xattrOf(dir.xattrs);
    return writeInode(dir, (h) => encodeDirInode(h, { start: p.block, offset: p.offset, size: bytes.length + 3, nlink: 2 + subdirs, parent, xattr, index }));
  };
  const rootRef = writeDir(root, next);

  const tables: Buffer[] = [];
  let at = start;
  const put = (b: Buffer): number => {
    const start = at;
    tables.push(b);
    at += b.length;
    return start;
  };
  const inodeTable = put(inodes.end());
  const directoryTable = put(dirs.end());
  /** Fixed-size records in metadata blocks; returns each block's start. */
  const recordBlocks = (records: Buffer[], perBlock: number): number[] => {
    const starts: number[] = [];
    for (let i = 0; i < records.length; i += perBlock) {
      const raw = Buffer.concat(records.slice(i, i + perBlock));
      starts.push(put(metadataBlock(raw, deflateSync(raw, { level: level }))));
    }
    return starts;
  };
  /** The starts of `starts` blocks as u64s after `head` bytes of header (left zero for the caller). */
  const startList = (starts: number[], head = 0): Buffer => {
    const list = Buffer.alloc(head + 8 * starts.length);
    starts.forEach((s, i) => list.writeBigUInt64LE(BigInt(s), head + 8 * i));
    return list;
  };
  const lookupTable = (records: Buffer[], perBlock: number): number => put(startList(recordBlocks(records, perBlock)));
  const fragmentTable = lookupTable(fragments.map((f) => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(BigInt(f.start), 0);
    b.writeUInt32LE(f.size, 8);
    return b;
  }), METADATA_SIZE / 16);
  const idTable = lookupTable([...ids.keys()].map((id) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(id >>> 0, 0);
    return b;
  }), METADATA_SIZE / 4);
  let xattrTable = 0xffffffffffffffffn;
  if (xattrIds.length > 0) {
    const kvStart = put(kv.end());
    const head = startList(recordBlocks(xattrIds, METADATA_SIZE / 16), 16);
    head.writeBigUInt64LE(BigInt(kvStart), 0);
    head.writeUInt32LE(xattrIds.length, 8);
    xattrTable = BigInt(put(head));
  }
  const bytesUsed = at;
  const pad = (4096 - (bytesUsed % 4096)) % 4096;
  tables.push(Buffer.alloc(pad));
  const sb = encodeSuperblock({
    inodeCount: next - 1, mkfsTime, blockSize: blockSize, fragmentCount: fragments.length, idCount: ids.size, flags: 0,
    rootInode: (BigInt(rootRef.block) << 16n) | BigInt(rootRef.offset), bytesUsed: BigInt(bytesUsed),
    idTable: BigInt(idTable), xattrTable, inodeTable: BigInt(inodeTable), directoryTable: BigInt(directoryTable), fragmentTable: BigInt(fragmentTable),
  });
  return { body: Buffer.concat(tables), superblock: sb, size: bytesUsed + pad };
}
