import { createHash } from 'node:crypto';
import { Transform, Writable, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  KilnError, ErrorCode, createDecompressor, layerCompression, sniffCompression, type Digest,
} from '../../core/index.ts';
import type { Descriptor, ImageConfig } from '../oci.ts';

/** What a blob's decompression gave while it streamed in: its diff_id, or why there is none. */
export type DiffIdOutcome = { compression: 'gzip' | 'zstd'; diffId: Digest } | { compression: 'gzip' | 'zstd'; error: Error };

/** Outcomes by blob digest, filled while blobs stream into a staging area. */
export type DiffIdLedger = Map<Digest, DiffIdOutcome>;

const SNIFF_BYTES = 4;

/**
 * A pass-through for `staging.stage(…, [tee])` that also decompresses what flows by
 * (gzip or zstd: given, or sniffed from the first bytes) and hashes the output, so that a
 * layer's diff_id is known without a second pass over it. A decompression failure does
 * not fail the staging: it is kept in {@link outcome} and reported if the blob turns out
 * to be a layer (an archive member that merely starts like gzip is not an error).
 */
export class DiffIdTee extends Transform {
  #compression: 'gzip' | 'zstd' | 'none' | undefined;
  #head: Buffer[] = [];
  #headSize = 0;
  #decompressor: Duplex | undefined;
  readonly #hash = createHash('sha256');
  #error: Error | undefined;
  #diffId: Digest | undefined;
  /** Set once the decompressor has ended or failed; gunzip may end before its input does (trailing bytes). */
  #settled = false;
  /** Compressed bytes given to the decompressor, or that came after it ended. */
  #fed = 0;
  #onSettled: (() => void) | undefined;

  constructor(compression: 'gzip' | 'zstd' | 'sniff') {
    super();
    if (compression !== 'sniff') this.#begin(compression);
  }

  /** The diff_id or the decompression error, once the stream has ended; undefined for an uncompressed blob. */
  get outcome(): DiffIdOutcome | undefined {
    const compression = this.#compression;
    if (compression === undefined || compression === 'none') return undefined;
    if (this.#error) return { compression, error: this.#error };
    if (this.#diffId) return { compression, diffId: this.#diffId };
    return undefined;
  }

  #begin(compression: 'gzip' | 'zstd'): void {
    this.#compression = compression;
    const d = createDecompressor(compression);
    d.on('data', (chunk: Buffer) => this.#hash.update(chunk));
    const settle = (): void => {
      if (this.#settled) return;
      this.#settled = true;
      this.#onSettled?.();
    };
    d.on('error', (err: Error) => {
      this.#error ??= err;
      settle();
    });
    d.on('end', settle);
    d.on('close', settle);
    this.#decompressor = d;
  }

  /** Writes to the decompressor, calling `then` once it can take more (or has failed). */
  #feed(data: Buffer, then: () => void): void {
    const d = this.#decompressor;
    this.#fed += data.length;
    if (!d || this.#error || this.#settled || d.write(data)) {
      then();
      return;
    }
    const go = (): void => {
      d.off('drain', go);
      d.off('error', go);
      d.off('close', go);
      then();
    };
    d.on('drain', go);
    d.on('error', go);
    d.on('close', go);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#compression !== undefined) {
      this.#feed(chunk, () => done(null, chunk));
      return;
    }
    this.#head.push(chunk);
    this.#headSize += chunk.length;
    if (this.#headSize < SNIFF_BYTES) {
      done(null, chunk);
      return;
    }
    const head = Buffer.concat(this.#head);
    this.#head = [];
    const sniffed = sniffCompression(head);
    if (sniffed === 'gzip' || sniffed === 'zstd') {
      this.#begin(sniffed);
      this.#feed(head, () => done(null, chunk));
    } else {
      this.#compression = 'none';
      done(null, chunk);
    }
  }

  override _flush(done: TransformCallback): void {
    const d = this.#decompressor;
    if (this.#compression === undefined) this.#compression = 'none';
    if (!d || this.#error) {
      done();
      return;
    }
    const finish = (): void => {
      // Bytes after the compressed stream (gunzip stops at a zero byte there) make a layer other tools refuse.
      const trailing = this.#fed - (d as Duplex & { bytesWritten: number }).bytesWritten;
      if (!this.#error && trailing > 0) this.#error = new Error(`${trailing} bytes after the end of the compressed stream`);
      if (!this.#error) this.#diffId = `sha256:${this.#hash.digest('hex')}`;
      done();
    };
    if (this.#settled) {
      finish();
      return;
    }
    this.#onSettled = finish;
    d.end();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#decompressor?.destroy();
    callback(err);
  }
}

/** The tee for staging a blob described by `desc`: a layer's decompression, or none. */
export function diffIdTeeFor(desc: Descriptor): DiffIdTee | undefined {
  const compression = layerCompression(desc.mediaType);
  return compression === 'gzip' || compression === 'zstd' ? new DiffIdTee(compression) : undefined;
}

function undecodable(what: string, layer: Descriptor, compression: string, cause: unknown): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: layer ${layer.digest} does not decompress (${compression}): ${(cause as Error).message}`, {
    cause,
    hint: 'the layer is corrupt or its media type is wrong; export, save or push the image again',
  });
}

/** Decompresses and hashes a layer read from `source` (the same tee as while staging): its diff_id. */
async function hashUncompressed(source: Readable, compression: 'gzip' | 'zstd', what: string, layer: Descriptor): Promise<Digest> {
  const tee = new DiffIdTee(compression);
  try {
    await pipeline(source, tee, new Writable({ write: (_c, _e, cb) => cb() }));
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError(ErrorCode.MISSING_BLOB, `${what}: layer ${layer.digest} cannot be read: ${(err as Error).message}`, { cause: err, hint: 'run `kiln store verify`' });
  }
  const outcome = tee.outcome;
  if (!outcome || 'error' in outcome) throw undecodable(what, layer, compression, outcome?.error ?? new Error('no output'));
  return outcome.diffId;
}

/**
 * Checks an image config's `rootfs.diff_ids` against its layers: as many as there are
 * layers, each the sha256 of that layer's uncompressed tar. Diff_ids computed while the
 * blobs streamed in come from `ledger`; others (blobs already in the store, or staged
 * without a tee) are computed by reading the layer through `open`.
 */
export async function verifyDiffIds(input: {
  what: string;
  config: ImageConfig;
  layers: readonly Descriptor[];
  ledger?: ReadonlyMap<Digest, DiffIdOutcome> | undefined;
  open: (layer: Descriptor) => Readable;
}): Promise<void> {
  const { what, config, layers } = input;
  const expected = config.rootfs.diff_ids;
  if (expected.length !== layers.length) {
    throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${what}: config lists ${expected.length} diff_ids for ${layers.length} layers`, {
      hint: 'the image config does not belong to these layers; the image is corrupt or was modified',
    });
  }
  for (const [i, layer] of layers.entries()) {
    const compression = layerCompression(layer.mediaType);
    if (compression === undefined) {
      throw new KilnError(ErrorCode.UNSUPPORTED, `${what}: layer ${layer.digest} has unsupported media type ${layer.mediaType}`, {
        hint: 'Kiln stores tar, tar+gzip and tar+zstd layers only',
      });
    }
    let diffId: Digest;
    if (compression === 'none') {
      diffId = layer.digest;
    } else {
      const known = input.ledger?.get(layer.digest);
      if (known?.compression === compression) {
        if ('error' in known) throw undecodable(what, layer, compression, known.error);
        diffId = known.diffId;
      } else {
        diffId = await hashUncompressed(input.open(layer), compression, what, layer);
      }
    }
    if (diffId !== expected[i]) {
      throw new KilnError(ErrorCode.DIGEST_MISMATCH, `${what}: layer ${i + 1} (${layer.digest}) has diff_id ${diffId}, the config expects ${expected[i]}`, {
        hint: 'the image config does not match its layers: the image is corrupt or was modified; export, save or push it again',
      });
    }
  }
}
