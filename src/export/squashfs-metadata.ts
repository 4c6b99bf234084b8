import { deflateSync } from 'node:zlib';
import { METADATA_SIZE, metadataBlock } from './squashfs-format.ts';

/** Metadata (inodes, listings, tables) as a stream of 8 KiB blocks; refs are (compressed block start, offset). */
export class MetadataStream {
  readonly out: Buffer[] = [];
  readonly blockStarts: number[] = [0];
  compressed = 0;
  #pending: Buffer[] = [];
  #pendingSize = 0;
  uncompressed = 0;
  #level: number;

  constructor(level: number) {
    this.#level = level;
  }

  position(): { block: number; offset: number } {
    return { block: this.compressed, offset: this.#pendingSize };
  }

  write(data: Buffer): void {
    this.#pending.push(data);
    this.#pendingSize += data.length;
    this.uncompressed += data.length;
    while (this.#pendingSize >= METADATA_SIZE) this.#flush(METADATA_SIZE);
  }

  #flush(size: number): void {
    const all = Buffer.concat(this.#pending);
    const raw = all.subarray(0, size);
    const block = metadataBlock(raw, deflateSync(raw, { level: this.#level }));
    this.out.push(block);
    this.compressed += block.length;
    this.blockStarts.push(this.compressed);
    const rest = all.subarray(size);
    this.#pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.#pendingSize = rest.length;
  }

  /** Compressed start of the block holding uncompressed byte `at` (written already). */
  startOf(at: number): number {
    return this.blockStarts[Math.floor(at / METADATA_SIZE)] as number;
  }

  end(): Buffer {
    if (this.#pendingSize > 0) this.#flush(this.#pendingSize);
    return Buffer.concat(this.out);
  }
}
