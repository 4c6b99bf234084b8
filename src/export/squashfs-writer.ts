import { hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { KilnError, ErrorCode } from '../core/index.ts';
import type { BlockCompressor } from './block-compressor.ts';
import type { BlockBytes, PackedBlock } from './squashfs-packs.ts';
import { DATA_UNCOMPRESSED, NO_FRAGMENT, type InodeKind } from './squashfs-format.ts';
import { encodeTables } from './squashfs-tables.ts';

/** Stored blocks by the sha256 of their raw bytes (one compressor, level and block size per cache): see squashfs-packs.ts. */
export interface BlockCache {
  has(key: string): boolean;
  get(key: string): Promise<BlockBytes | undefined>;
}

/** A block ready to be placed: its cache key, its bytes, where they came from. */
interface StoredBlock extends BlockBytes {
  key: string;
  hit: boolean;
}

/** Where one file's data went. */
export interface FileData {
  size: number;
  start: number;
  blocks: number[];
  fragment: number;
  fragmentOffset: number;
  /** sha256 of each full data block's raw bytes (the block cache's keys). */
  keys?: string[] | undefined;
  /** sha256 of the whole file when it is one tail (small files with equal content share it). */
  tailHash?: string | undefined;
  /** sha256 of the tail, whatever the file's size (it decides where fragments end). */
  tailSum?: string | undefined;
}

/**
 * A tail by where an earlier write put it (a layer replayed from its record): its bytes are
 * read only when the fragment it joins is not made of the very same bytes as that one.
 */
export interface TailRef {
  /** The cache key of the fragment block holding it, its offset there and its length. */
  fragment: string;
  offset: number;
  length: number;
  /** The raw size of that fragment block, when the record has it. */
  fragmentSize: number | undefined;
  /** sha256 of the tail, when the record has it (else it is read and hashed). */
  sum: string | undefined;
}

/** One path of the filesystem ("" is the root). */
export interface SqfsEntry {
  path: string;
  kind: InodeKind | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs?: Record<string, Buffer> | undefined;
  /** Symlink target, or the path a hardlink names. */
  target?: string | undefined;
  major?: number | undefined;
  minor?: number | undefined;
  data?: FileData | undefined;
}

/** Counters of one write, for logs and the bench. */
export interface WriteStats { blocks: number; cached: number }

/** Image bytes gathered before one write: a few writes per MiB instead of one per block. */
const WRITE_BATCH = 1 << 20;
/** Blocks compressing at once: enough to keep every compressor thread busy while the main thread reads. */
const IN_FLIGHT = 32;

/**
 * Writes a SquashFS 4.0 image (gzip) to an open file: file data first, as it streams in
 * ({@link SquashfsWriter.addFile}; data blocks compressed by `compressor` on its threads,
 * kept in order), then {@link SquashfsWriter.finish} writes inodes, directories and tables.
 * Tails go to fragment blocks closed at content-defined points, so that an image that
 * adds files to another one mostly rebuilds the same blocks, which the compressor's
 * block cache then serves; `cache` gives the blocks {@link SquashfsWriter.addCachedFile} names.
 */
export class SquashfsWriter {
  readonly blockSize: number;
  readonly stats: WriteStats = { blocks: 0, cached: 0 };
  /** Every distinct block written, by key: what a pack of this image indexes. */
  readonly placed: PackedBlock[] = [];
  #placedKeys = new Set<string>();
  #fh: FileHandle;
  #compressor: BlockCompressor;
  #cache: BlockCache | undefined;
  #level: number;
  #pos = 96;
  #chain: Promise<void> = Promise.resolve();
  #inflight: Array<Promise<void>> = [];
  /** Image bytes not written yet, which start at #pos - #outSize. */
  #out: Buffer;
  #outSize = 0;
  /** Block-sized memory back from the compressor threads, for the next blocks (no allocation per block). */
  #free: ArrayBuffer[] = [];
  /** The fragment block being filled with tails. */
  #frag: Buffer;
  #fragments: Array<{ start: number; size: number }> = [];
  #fragSize = 0;
  /** Where a file's tail is gathered before it joins a fragment. */
  #tail: Buffer;
  #tails = new Map<string, { fragment: number; offset: number }>();
  #fragmentKeys: string[] = [];
  #fragmentSizes: number[] = [];
  /** While the open fragment is the first `end` bytes of a cached fragment block (tails replayed in the same order), which one: no byte is copied yet. */
  #fragFrom: { key: string; end: number; size: number } | undefined;
  /** Raw fragment blocks read back from the cache for their tails, the most recent few. */
  #fragmentBytes = new Map<string, Buffer>();

  constructor(fh: FileHandle, options: { compressor: BlockCompressor; blockSize?: number; level?: number; cache?: BlockCache | undefined }) {
    this.#fh = fh;
    this.blockSize = options.blockSize ?? 131072;
    this.#level = options.level ?? 9;
    this.#compressor = options.compressor;
    this.#cache = options.cache;
    this.#out = Buffer.allocUnsafeSlow(WRITE_BATCH + this.blockSize);
    this.#frag = this.#block();
    this.#tail = Buffer.allocUnsafe(this.blockSize);
  }

  /** Memory for one raw block: used memory back from a thread, or new. */
  #block(): Buffer {
    return Buffer.from(this.#free.pop() ?? new ArrayBuffer(this.blockSize));
  }

  /**
   * The stored form of the first `length` bytes of `block` (memory from {@link #block}, which
   * moves to a compressor thread and comes back with the result): from a pack when one has it, else deflated.
   */
  #store(block: Buffer, length: number): Promise<StoredBlock> {
    this.stats.blocks++;
    const key = hash('sha256', block.subarray(0, length), 'hex');
    if (this.#cache?.has(key)) {
      this.stats.cached++;
      this.#free.push(block.buffer as ArrayBuffer);
      return this.#cached(key);
    }
    return this.#compressor.compress(block, length).then((b) => ({ ...b, key, hit: false }));
  }

  #cached(key: string): Promise<StoredBlock> {
    const cache = this.#cache;
    if (!cache) return Promise.reject(new KilnError(ErrorCode.NOT_FOUND, 'a cached block needs a block cache'));
    return cache.get(key).then((b) => {
      if (!b) throw new KilnError(ErrorCode.NOT_FOUND, `block ${key} left the block cache during the export`, { hint: 'run the export again' });
      return { ...b, key, hit: true };
    });
  }

  /** Writes what the blocks before gathered (the image's data region grows in order). */
  async #flush(): Promise<void> {
    if (this.#outSize === 0) return;
    const at = this.#pos - this.#outSize;
    const length = this.#outSize;
    this.#outSize = 0;
    const { bytesWritten } = await this.#fh.write(this.#out, 0, length, at);
    if (bytesWritten !== length) throw new KilnError(ErrorCode.IO, `short write to the SquashFS image (${bytesWritten} of ${length} bytes at ${at})`, { hint: 'check the free space of the export destination' });
  }

  /** Queues a block: compressed now (in parallel), placed in order; `placed` gets its position, size field and cache key. */
  async #queue(stored: Promise<StoredBlock>, placed: (start: number, sizeField: number, key: string) => void): Promise<void> {
    stored.catch(() => undefined);
    const step = this.#chain.then(async () => {
      const s = await stored;
      const start = this.#pos;
      const sizeField = s.bytes.length | (s.raw ? DATA_UNCOMPRESSED : 0);
      this.#outSize += s.bytes.copy(this.#out, this.#outSize);
      this.#pos += s.bytes.length;
      // Copied out: a thread's block memory serves the next block.
      if (!s.hit && s.bytes.buffer.byteLength === this.blockSize) this.#free.push(s.bytes.buffer as ArrayBuffer);
      if (!this.#placedKeys.has(s.key)) {
        this.#placedKeys.add(s.key);
        this.placed.push({ key: s.key, start, sizeField });
      }
      placed(start, sizeField, s.key);
      if (this.#outSize >= WRITE_BATCH) await this.#flush();
    });
    step.catch(() => undefined);
    this.#chain = step;
    this.#inflight.push(step);
    if (this.#inflight.length > IN_FLIGHT) await this.#inflight.shift();
  }

  async #closeFragment(): Promise<void> {
    if (this.#fragSize === 0) return;
    const index = this.#fragments.length;
    this.#fragments.push({ start: 0, size: 0 });
    this.#fragmentSizes[index] = this.#fragSize;
    const placed = (start: number, size: number, key: string): void => {
      this.#fragments[index] = { start, size };
      this.#fragmentKeys[index] = key;
    };
    const from = this.#fragFrom;
    if (from && from.end === from.size) {
      // The same tails as a cached fragment block, in the same order: it is that block.
      this.#fragFrom = undefined;
      this.#fragSize = 0;
      this.stats.blocks++;
      this.stats.cached++;
      void this.#queue(this.#cached(from.key), placed);
      return;
    }
    await this.#materialize();
    const raw = this.#frag;
    const length = this.#fragSize;
    this.#frag = this.#block();
    this.#fragSize = 0;
    void this.#queue(this.#store(raw, length), placed);
  }

  /** Copies the cached fragment bytes the open fragment consists of so far into it: another tail joins that is not next in that block. */
  async #materialize(): Promise<void> {
    const from = this.#fragFrom;
    if (!from) return;
    this.#fragFrom = undefined;
    (await this.#fragmentRaw(from.key)).copy(this.#frag, 0, 0, from.end);
  }

  /** A cached fragment block's raw bytes (inflated), kept for the next tails in it. */
  async #fragmentRaw(key: string): Promise<Buffer> {
    let raw = this.#fragmentBytes.get(key);
    if (raw) return raw;
    const stored = await this.#cached(key);
    // A copy, not a view holding its pack's whole read window.
    raw = stored.raw ? Buffer.from(stored.bytes) : inflateSync(stored.bytes);
    if (this.#fragmentBytes.size >= 16) this.#fragmentBytes.delete(this.#fragmentBytes.keys().next().value as string);
    this.#fragmentBytes.set(key, raw);
    return raw;
  }

  /** Streams one regular file's data in; the returned record is complete once {@link finish} ran. */
  async addFile(size: number, chunks: AsyncIterable<Buffer>): Promise<FileData> {
    const data: FileData = { size, start: 0, blocks: [], fragment: NO_FRAGMENT, fragmentOffset: 0, keys: [] };
    // Full blocks are cut into block memory that moves to a compressor thread uncopied; the tail gathers in #tail.
    const next = (): Buffer => (size - seen >= this.blockSize ? this.#block() : this.#tail);
    let seen = 0;
    let block = next();
    let filled = 0;
    for await (const chunk of chunks) {
      for (let at = 0; at < chunk.length;) {
        if (seen + chunk.length - at > size) throw new KilnError(ErrorCode.SIZE_MISMATCH, `file data runs past its ${size} bytes`);
        const n = chunk.copy(block, filled, at, at + Math.min(chunk.length - at, this.blockSize - filled));
        filled += n;
        at += n;
        seen += n;
        if (filled === this.blockSize) {
          await this.#emit(data, this.#store(block, filled));
          block = next();
          filled = 0;
        }
      }
    }
    if (block !== this.#tail) this.#free.push(block.buffer as ArrayBuffer);
    if (seen !== size) throw new KilnError(ErrorCode.SIZE_MISMATCH, `file data ended after ${seen} of ${size} bytes`);
    if (filled === 0) return data;
    const tail = this.#tail.subarray(0, filled);
    // A one-tail file's hash: small files with equal content share their tail.
    if (size === filled) data.tailHash = hash('sha256', tail, 'hex');
    await this.#addTail(data, tail);
    return data;
  }

  /**
   * Adds a regular file whose full blocks are in the block cache already (`keys`, as
   * {@link FileData.keys} of an earlier write) and whose tail is where `tail` says:
   * nothing is compressed again, and the tail is read only when its fragment differs from
   * the one it was in. The caller checked that every key is cached.
   */
  async addCachedFile(size: number, keys: readonly string[], tail: TailRef | undefined, tailHash: string | undefined): Promise<FileData> {
    const data: FileData = { size, start: 0, blocks: [], fragment: NO_FRAGMENT, fragmentOffset: 0, keys: [] };
    if (keys.length !== Math.floor(size / this.blockSize) || (tail?.length ?? 0) !== size % this.blockSize) {
      throw new KilnError(ErrorCode.SIZE_MISMATCH, `cached file record of ${size} bytes does not match its ${keys.length} blocks`);
    }
    for (const key of keys) {
      this.stats.blocks++;
      this.stats.cached++;
      await this.#emit(data, this.#cached(key));
    }
    if (tail && tail.length > 0) {
      data.tailHash = tailHash;
      await this.#addTail(data, tail);
    }
    return data;
  }

  async #emit(data: FileData, stored: Promise<StoredBlock>): Promise<void> {
    const i = data.blocks.length;
    data.blocks.push(0);
    data.keys?.push('');
    await this.#queue(stored, (start, sizeField, key) => {
      if (i === 0) data.start = start;
      data.blocks[i] = sizeField;
      if (data.keys) data.keys[i] = key;
    });
  }

  async #addTail(data: FileData, tail: Buffer | TailRef): Promise<void> {
    const tailKey = data.tailHash ? `${data.tailHash}:${data.size}` : undefined;
    const known = tailKey ? this.#tails.get(tailKey) : undefined;
    if (known) {
      data.fragment = known.fragment;
      data.fragmentOffset = known.offset;
      return;
    }
    const bytesOf = async (ref: TailRef): Promise<Buffer> => (await this.#fragmentRaw(ref.fragment)).subarray(ref.offset, ref.offset + ref.length);
    // A one-tail file's hash is that of its tail: it is not computed twice.
    const sum = Buffer.isBuffer(tail) ? data.tailHash ?? hash('sha256', tail, 'hex') : tail.sum ?? hash('sha256', await bytesOf(tail), 'hex');
    data.tailSum = sum;
    if (this.#fragSize + tail.length > this.blockSize) await this.#closeFragment();
    data.fragment = this.#fragments.length;
    data.fragmentOffset = this.#fragSize;
    const from = this.#fragFrom;
    const next = !Buffer.isBuffer(tail) && tail.fragmentSize !== undefined
      && (from ? from.key === tail.fragment && from.end === tail.offset : this.#fragSize === 0 && tail.offset === 0);
    if (next) {
      // Still the same bytes as that cached fragment block: nothing to copy (yet).
      this.#fragFrom = { key: tail.fragment, end: tail.offset + tail.length, size: tail.fragmentSize as number };
      this.#fragSize += tail.length;
    } else {
      await this.#materialize();
      const bytes = Buffer.isBuffer(tail) ? tail : await bytesOf(tail);
      this.#fragSize += bytes.copy(this.#frag, this.#fragSize);
    }
    if (tailKey) this.#tails.set(tailKey, { fragment: data.fragment, offset: data.fragmentOffset });
    // A content-defined end (1 tail in 16 on average), so that inserted files move few block boundaries.
    if (Number.parseInt(sum.slice(0, 2), 16) % 16 === 0) await this.#closeFragment();
  }

  /** The raw size of fragment block `index`, once {@link finish} ran. */
  fragmentSize(index: number): number | undefined {
    return this.#fragmentSizes[index];
  }

  /** The block cache key (sha256 of the raw bytes) of fragment block `index`, once {@link finish} ran. */
  fragmentKey(index: number): string | undefined {
    return this.#fragmentKeys[index];
  }

  /** Writes inodes, directories, fragment, id and xattr tables and the superblock; returns the image size. */
  async finish(entries: ReadonlyMap<string, SqfsEntry>): Promise<number> {
    await this.#closeFragment();
    await this.#chain;
    await this.#flush();
    const { body, superblock, size } = encodeTables({ entries, level: this.#level, blockSize: this.blockSize, fragments: this.#fragments, start: this.#pos });
    await this.#fh.write(body, 0, body.length, this.#pos);
    await this.#fh.write(superblock, 0, superblock.length, 0);
    return size;
  }
}
