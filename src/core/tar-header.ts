import { KilnError, ErrorCode } from './errors.ts';

/** A tar member as a scan sees it: header fields and where its data sits in the stream. */
export interface ScannedMember {
  name: string;
  type: 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Offset of the member's data in the (uncompressed) tar stream. */
  offset: number;
  /** Modification time, seconds since the epoch (pax `mtime` may have a fraction). */
  mtime?: number;
  /** pax extended attributes (SCHILY.xattr.*), when present; values are binary strings (latin1), as xattrs are bytes. */
  xattrs?: Record<string, string>;
  /** POSIX ACLs as GNU tar records them (SCHILY.acl.access, SCHILY.acl.default), as text. */
  acls?: { access?: string; default?: string };
}

/** Metadata records (pax, GNU long names) that apply to the next member. */
export interface PendingMeta {
  pax: Record<string, string>;
  longName?: string | undefined;
  longLink?: string | undefined;
}

/** What one 512-byte header block says. */
export type DecodedHeader =
  | { kind: 'end' }
  | { kind: 'meta'; flag: 'x' | 'g' | 'L' | 'K'; size: number }
  | { kind: 'member'; member: ScannedMember };

/** Tar block size. */
export const TAR_BLOCK = 512;
/** The largest metadata record (pax header, long name) Kiln accepts. */
export const TAR_META_LIMIT = 1 << 20;
const TYPES: Record<string, ScannedMember['type']> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };

/** A NUL-terminated text field. */
export function tarText(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** Parses a tar numeric field: octal text, or GNU base-256 when the high bit is set. */
export function parseTarNumber(block: Buffer, start: number, length: number): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] ?? 0);
    return value;
  }
  const text = tarText(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** True when a 512-byte block is a tar header whose checksum is right. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < TAR_BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  const stored = parseTarNumber(block, 148, 8);
  return stored === sum && sum !== 0x20 * 8;
}

const XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * Parses pax extended header records ("<len> key=value\n"). Values are UTF-8, except
 * extended attributes (SCHILY.xattr.*), which are bytes and kept as latin1 strings.
 */
export function parsePaxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(off, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > data.length) break;
    const record = data.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString('utf8');
      out[key] = record.subarray(eq + 1).toString(key.startsWith(XATTR_PREFIX) ? 'latin1' : 'utf8');
    }
    off += len;
  }
  return out;
}

/**
 * Decodes one header block: the end of the archive, a metadata record whose data must be
 * read and given to {@link applyTarMeta}, or a member (consuming `pending`). Handles
 * ustar prefixes, pax (path, linkpath, size, uid, gid, xattrs) and GNU long names.
 */
export function decodeTarHeader(block: Buffer, pending: PendingMeta, dataOffset: number, what: string): DecodedHeader {
  if (block.every((b) => b === 0)) return { kind: 'end' };
  if (!isTarHeader(block)) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: invalid tar header at offset ${dataOffset - TAR_BLOCK}`);
  const flag = String.fromCharCode(block[156] ?? 0);
  let size = parseTarNumber(block, 124, 12);
  if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
    if (size > TAR_META_LIMIT) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar metadata record of ${size} bytes`);
    return { kind: 'meta', flag, size };
  }
  const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? tarText(block, 345, 155) : '';
  const base = tarText(block, 0, 100);
  const { pax } = pending;
  if (pax.size !== undefined) size = Number(pax.size);
  if (!Number.isSafeInteger(size) || size < 0) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar member at offset ${dataOffset - TAR_BLOCK} has an invalid size`);
  const xattrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (k.startsWith(XATTR_PREFIX)) xattrs[k.slice(XATTR_PREFIX.length)] = v;
  const paxMtime = pax.mtime !== undefined ? Number(pax.mtime) : Number.NaN;
  const member: ScannedMember = {
    name: pax.path ?? pending.longName ?? (prefix ? `${prefix}/${base}` : base),
    type: TYPES[flag] ?? 'file',
    mode: parseTarNumber(block, 100, 8),
    uid: pax.uid !== undefined ? Number(pax.uid) : parseTarNumber(block, 108, 8),
    gid: pax.gid !== undefined ? Number(pax.gid) : parseTarNumber(block, 116, 8),
    size: flag === '5' || flag === '1' || flag === '2' ? 0 : size,
    linkname: pax.linkpath ?? pending.longLink ?? tarText(block, 157, 100),
    devmajor: parseTarNumber(block, 329, 8),
    devminor: parseTarNumber(block, 337, 8),
    offset: dataOffset,
    mtime: Number.isFinite(paxMtime) ? paxMtime : parseTarNumber(block, 136, 12),
  };
  for (const field of ['mode', 'uid', 'gid', 'devmajor', 'devminor'] as const) {
    const value = member[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar member "${member.name}" at offset ${dataOffset - TAR_BLOCK} has an invalid ${field}`);
    }
  }
  if (Object.keys(xattrs).length > 0) member.xattrs = xattrs;
  const access = pax['SCHILY.acl.access'];
  const dflt = pax['SCHILY.acl.default'];
  if (access !== undefined || dflt !== undefined) member.acls = { ...(access !== undefined ? { access } : {}), ...(dflt !== undefined ? { default: dflt } : {}) };
  pending.pax = {};
  pending.longName = undefined;
  pending.longLink = undefined;
  return { kind: 'member', member };
}

/** Records a metadata record's data for the next member. */
export function applyTarMeta(pending: PendingMeta, flag: 'x' | 'g' | 'L' | 'K', data: Buffer): void {
  if (flag === 'x') pending.pax = parsePaxRecords(data);
  else if (flag === 'L') pending.longName = tarText(data, 0, data.length);
  else if (flag === 'K') pending.longLink = tarText(data, 0, data.length);
}

/** Bytes a member's data takes in the archive (padded to whole blocks). */
export function paddedSize(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/** A ustar header for a directory owned by root (mode 0755), as GNU tar writes one. */
export function encodeDirectoryHeader(name: string, mtime = 0): Buffer {
  const block = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number): void => {
    block.write(value.slice(0, length), offset, length, 'utf8');
  };
  const octal = (value: number, offset: number, length: number): void => put(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  put(name.endsWith('/') ? name : `${name}/`, 0, 100);
  octal(0o755, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(0, 124, 12);
  octal(mtime, 136, 12);
  put('5', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  // The checksum is computed with its own field as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}
