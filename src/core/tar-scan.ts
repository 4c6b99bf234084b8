import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { KilnError, ErrorCode } from './errors.ts';
import { TAR_BLOCK, applyTarMeta, decodeTarHeader, paddedSize, type PendingMeta, type ScannedMember } from './tar-header.ts';
import { limitExceeded, tarLimits, type TarLimits } from './tar-limits.ts';

function truncated(what: string): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar stream ends inside a member`, { hint: 'the archive or layer is truncated' });
}

/** Fails when a member breaks a limit: the entry count, its declared size, or where its data would end. */
export function checkLimits(what: string, limits: Readonly<TarLimits>, count: number, member: ScannedMember): void {
  if (count > limits.maxEntries) throw limitExceeded(what, 'maxEntries', count, limits.maxEntries);
  if (member.size > limits.maxFileSize) throw limitExceeded(`${what}: ${member.name}`, 'maxFileSize', member.size, limits.maxFileSize);
  const end = member.offset + paddedSize(member.size);
  if (end > limits.maxLayerSize) throw limitExceeded(what, 'maxLayerSize', end, limits.maxLayerSize);
}

/**
 * A push parser for tar streams that reports each member's header and data offset
 * without keeping data: feed it chunks, it calls `onMember`. Used to index compressed layers.
 * Enforces the tar limits (entries, member size, total size) in force when it is created.
 */
export class TarScanner {
  readonly #onMember: (member: ScannedMember) => void;
  readonly #what: string;
  #pos = 0;
  readonly #block = Buffer.alloc(TAR_BLOCK);
  #have = 0;
  #skip = 0;
  #meta: { flag: 'x' | 'g' | 'L' | 'K'; size: number; data: Buffer[] } | undefined;
  readonly #pending: PendingMeta = { pax: {} };
  #ended = false;
  readonly #limits: Readonly<TarLimits>;
  #count = 0;

  constructor(what: string, onMember: (member: ScannedMember) => void, limits: Readonly<TarLimits> = tarLimits()) {
    this.#what = what;
    this.#onMember = onMember;
    this.#limits = limits;
  }

  /** Feeds the next chunk of the (uncompressed) stream. */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#ended) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length);
        this.#meta?.data.push(data.subarray(0, n));
        this.#skip -= n;
        this.#pos += n;
        data = data.subarray(n);
        if (this.#skip === 0) this.#finishMeta();
        continue;
      }
      // Headers are decoded in place; only one split across chunks is copied (no buffer per member).
      let block: Buffer;
      if (this.#have === 0 && data.length >= TAR_BLOCK) {
        block = data.subarray(0, TAR_BLOCK);
        data = data.subarray(TAR_BLOCK);
        this.#pos += TAR_BLOCK;
      } else {
        const n = Math.min(TAR_BLOCK - this.#have, data.length);
        data.copy(this.#block, this.#have, 0, n);
        this.#have += n;
        this.#pos += n;
        data = data.subarray(n);
        if (this.#have < TAR_BLOCK) continue;
        block = this.#block;
        this.#have = 0;
      }
      if (this.#pos > this.#limits.maxLayerSize) throw limitExceeded(this.#what, 'maxLayerSize', this.#pos, this.#limits.maxLayerSize);
      const decoded = decodeTarHeader(block, this.#pending, this.#pos, this.#what);
      if (decoded.kind === 'end') this.#ended = true;
      else if (decoded.kind === 'meta') {
        this.#meta = { flag: decoded.flag, size: decoded.size, data: [] };
        this.#skip = paddedSize(decoded.size);
        if (this.#skip === 0) this.#finishMeta();
      } else {
        checkLimits(this.#what, this.#limits, ++this.#count, decoded.member);
        this.#onMember(decoded.member);
        this.#skip = paddedSize(decoded.member.size);
      }
    }
  }

  /** Checks the stream ended on a member boundary. */
  end(): void {
    if (!this.#ended && (this.#skip > 0 || this.#have > 0 || this.#meta)) throw truncated(this.#what);
  }

  #finishMeta(): void {
    const meta = this.#meta;
    this.#meta = undefined;
    if (meta) applyTarMeta(this.#pending, meta.flag, Buffer.concat(meta.data).subarray(0, meta.size));
  }
}

const WINDOW = 1 << 16;

/**
 * Scans an uncompressed tar file by hopping from header to header with positional reads,
 * never reading member data; stops after `limit` members, and fails past the tar limits. Returns undefined when the file
 * does not start with a tar header. Synchronous on purpose: thousands of small reads
 * through the thread pool would cost more in round trips than the reads themselves.
 */
export function scanTarFile(file: string, what: string, limit = Number.POSITIVE_INFINITY, limits: Readonly<TarLimits> = tarLimits()): ScannedMember[] | undefined {
  const members: ScannedMember[] = [];
  const found = walkTarFile(file, what, (m) => {
    members.push(m);
    return members.length < limit;
  }, limits);
  return found ? members : undefined;
}

/**
 * Like {@link scanTarFile} but hands each member to `onMember` instead of keeping them
 * (it returns false to stop). Returns false when the file does not start with a tar header.
 */
export function walkTarFile(file: string, what: string, onMember: (member: ScannedMember) => boolean | void, limits: Readonly<TarLimits> = tarLimits()): boolean {
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
    const pending: PendingMeta = { pax: {} };
    let offset = 0;
    let count = 0;
    for (;;) {
      const block = read(offset, TAR_BLOCK);
      if (block.length < TAR_BLOCK) {
        if (offset === 0) return false;
        throw truncated(what);
      }
      let decoded;
      try {
        decoded = decodeTarHeader(block, pending, offset + TAR_BLOCK, what);
      } catch (err) {
        if (offset === 0) return false;
        throw err;
      }
      if (decoded.kind === 'end') break;
      const dataOffset = offset + TAR_BLOCK;
      if (decoded.kind === 'meta') {
        const data = read(dataOffset, decoded.size, true);
        if (data.length < decoded.size) throw truncated(what);
        applyTarMeta(pending, decoded.flag, data);
        offset = dataOffset + paddedSize(decoded.size);
        continue;
      }
      checkLimits(what, limits, ++count, decoded.member);
      offset = dataOffset + paddedSize(decoded.member.size);
      if (offset > fileSize) throw truncated(what);
      if (onMember(decoded.member) === false) break;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}
