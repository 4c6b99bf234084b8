import { open } from 'node:fs/promises';
import { Readable, pipeline, type Duplex } from 'node:stream';
import { KilnError, ErrorCode } from './errors.ts';

/** A compression recognised from a stream's first bytes. */
export type SniffedCompression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Recognises a compression format from the magic bytes at the start of a file. */
export function sniffCompression(head: Uint8Array): SniffedCompression {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  return 'none';
}

/** Recognises the compression of a file from its first bytes. */
export async function sniffFileCompression(path: string): Promise<SniffedCompression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, head.length, 0);
    return sniffCompression(head);
  } finally {
    await handle.close();
  }
}

/** A decompressing transform for a compression Node handles natively (gzip, zstd). */
export function createDecompressor(compression: 'gzip' | 'zstd'): Duplex {
  // node:zlib is loaded on the first decompression, not at start-up.
  const { createGunzip, createZstdDecompress } = process.getBuiltinModule('node:zlib');
  return compression === 'gzip' ? createGunzip() : createZstdDecompress();
}

/** Rejects compressions that OCI layers cannot carry. */
export function assertLayerCompression(compression: SniffedCompression, what: string): asserts compression is 'none' | 'gzip' | 'zstd' {
  if (compression === 'xz' || compression === 'bzip2') {
    throw new KilnError(ErrorCode.UNSUPPORTED, `${what} is ${compression}-compressed, which OCI layers cannot carry`, {
      hint: `decompress it first (e.g. ${compression === 'xz' ? 'xz -d' : 'bunzip2'} FILE) or recompress with gzip or zstd`,
    });
  }
}

/**
 * The decompressed bytes of a stored layer as one stream, with every failure on it: the
 * blob's own errors (a digest mismatch, a missing file) pass through, and a decompressor
 * failure becomes DIGEST_MISMATCH naming `what` (layers are decompressed when they join
 * the store, so one that no longer decompresses has changed since). Destroying the
 * result closes the blob.
 */
export function decompressedStream(source: Readable, compression: 'none' | 'gzip' | 'zstd', what: string): Readable {
  if (compression === 'none') return source;
  const decompressor = createDecompressor(compression);
  // pipeline hands the source's errors to the decompressor and closes both on failure.
  pipeline(source, decompressor, () => undefined);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of decompressor) yield chunk as Buffer;
    } catch (err) {
      if (err instanceof KilnError || (err as NodeJS.ErrnoException).syscall !== undefined) throw err;
      throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${what} is corrupt: ${(err as Error).message}`, {
        cause: err, hint: '`kiln store verify` lists the damaged blobs; import or clone the image again to replace them',
      });
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
