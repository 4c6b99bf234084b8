import { isTarHeader, parseTarNumber } from './tar-peek.ts';
import { KilnError, ErrorCode } from './errors.ts';

/** A tar member as a scan sees it: header fields and where its data sits in the stream. */
export interface ScannedMember {
  name: string;
  /** 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo' */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Offset of the member's data in the (uncompressed) tar stream. */
  offset: number;
  /** pax extended attributes (SCHILY.xattr.*), when present. */
  xattrs?: Record<string, string>;
}

const BLOCK = 512;
const TYPES: Record<string, string> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };
const META_LIMIT = 1 << 20;

function text(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** Parses pax extended header records ("<len> key=value\n"). */
export function parsePaxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(off, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > data.length) break;
    const record = data.subarray(space + 1, off + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    off += len;
  }
  return out;
}

/**
 * A push parser for tar streams that reports each member's header and data offset
 * without keeping data: feed it chunks, it calls `onMember`. Handles ustar prefixes,
 * pax (path, linkpath, size, xattrs) and GNU long names. Used to index layers.
 */
export class TarScanner {
  readonly #onMember: (member: ScannedMember) => void;
  #pos = 0;
  #buf: Buffer = Buffer.alloc(0);
  #skip = 0;
  #meta: { type: string; size: number; data: Buffer[]; got: number } | undefined;
  #pax: Record<string, string> = {};
  #longName: string | undefined;
  #longLink: string | undefined;
  #ended = false;
  readonly #what: string;

  constructor(what: string, onMember: (member: ScannedMember) => void) {
    this.#what = what;
    this.#onMember = onMember;
  }

  /** Feeds the next chunk of the (uncompressed) stream. */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#ended) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length);
        if (this.#meta) {
          this.#meta.data.push(data.subarray(0, n));
          this.#meta.got += n;
        }
        this.#skip -= n;
        this.#pos += n;
        data = data.subarray(n);
        if (this.#skip === 0 && this.#meta) this.#finishMeta();
        continue;
      }
      const need = BLOCK - this.#buf.length;
      const take = data.subarray(0, need);
      this.#buf = this.#buf.length === 0 ? Buffer.from(take) : Buffer.concat([this.#buf, take]);
      this.#pos += take.length;
      data = data.subarray(take.length);
      if (this.#buf.length === BLOCK) {
        const block = this.#buf;
        this.#buf = Buffer.alloc(0);
        this.#header(block);
      }
    }
  }

  /** Checks the stream ended on a member boundary. */
  end(): void {
    if (this.#ended) return;
    if (this.#skip > 0 || this.#buf.length > 0 || this.#meta) {
      throw new KilnError(ErrorCode.BAD_ARCHIVE, `${this.#what}: tar stream ends inside a member`, { hint: 'the layer is truncated' });
    }
  }

  #header(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.#ended = true;
      return;
    }
    if (!isTarHeader(block)) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${this.#what}: invalid tar header at offset ${this.#pos - BLOCK}`);
    const flag = String.fromCharCode(block[156] ?? 0);
    let size = parseTarNumber(block, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > META_LIMIT) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${this.#what}: tar metadata record of ${size} bytes`);
      this.#meta = { type: flag, size, data: [], got: 0 };
      this.#skip = padded;
      if (padded === 0) this.#finishMeta();
      return;
    }
    const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = posix ? text(block, 345, 155) : '';
    const base = text(block, 0, 100);
    const pax = this.#pax;
    if (pax.size !== undefined) size = Number(pax.size);
    const xattrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    const member: ScannedMember = {
      name: pax.path ?? this.#longName ?? (prefix ? `${prefix}/${base}` : base),
      type: TYPES[flag] ?? 'file',
      mode: parseTarNumber(block, 100, 8),
      uid: pax.uid !== undefined ? Number(pax.uid) : parseTarNumber(block, 108, 8),
      gid: pax.gid !== undefined ? Number(pax.gid) : parseTarNumber(block, 116, 8),
      size: flag === '5' || flag === '1' || flag === '2' ? 0 : size,
      linkname: pax.linkpath ?? this.#longLink ?? text(block, 157, 100),
      devmajor: parseTarNumber(block, 329, 8),
      devminor: parseTarNumber(block, 337, 8),
      offset: this.#pos,
    };
    if (Object.keys(xattrs).length > 0) member.xattrs = xattrs;
    this.#pax = {};
    this.#longName = undefined;
    this.#longLink = undefined;
    this.#onMember(member);
    this.#skip = Math.ceil(member.size / BLOCK) * BLOCK;
  }

  #finishMeta(): void {
    const meta = this.#meta;
    this.#meta = undefined;
    if (!meta) return;
    const data = Buffer.concat(meta.data).subarray(0, meta.size);
    if (meta.type === 'x') this.#pax = parsePaxRecords(data);
    else if (meta.type === 'L') this.#longName = text(data, 0, data.length);
    else if (meta.type === 'K') this.#longLink = text(data, 0, data.length);
  }
}
