import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { KilnError, ErrorCode } from './errors.ts';

/** A content digest as written in OCI descriptors: `sha256:<64 hex>`. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Validates and returns a digest string; only sha256 is accepted. */
export function parseDigest(value: string): Digest {
  if (!DIGEST_RE.test(value)) {
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `invalid digest "${value}"`, {
      hint: 'digests must be sha256:<64 lower-case hex digits>',
    });
  }
  return value as Digest;
}

/** True when `value` is a well-formed sha256 digest. */
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** The hex part of a digest (the blob's file name under blobs/sha256/). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** sha256 digest of an in-memory buffer (manifests, configs: small JSON documents). */
export function digestOf(data: Uint8Array | string): Digest {
  return `sha256:${process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest('hex')}`;
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingStream extends Transform {
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  readonly #hash: Hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  #size = 0;
  #digest: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}`;
    done();
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** The digest; only valid once the stream has ended. */
  get digest(): Digest {
    if (this.#digest === undefined) throw new Error('HashingStream: digest read before end');
    return this.#digest;
  }
}

/** Throws DIGEST_MISMATCH / SIZE_MISMATCH when what was read is not what was announced. */
export function assertContent(
  what: string,
  expected: { digest: Digest; size?: number | undefined },
  actual: { digest: Digest; size: number },
): void {
  if (expected.size !== undefined && expected.size !== actual.size) {
    throw new KilnError(
      ErrorCode.SIZE_MISMATCH,
      `${what}: expected ${expected.size} bytes, read ${actual.size}`,
      { hint: 'the source is truncated or corrupt; fetch or export it again' },
    );
  }
  if (expected.digest !== actual.digest) {
    throw new KilnError(
      ErrorCode.DIGEST_MISMATCH,
      `${what}: content digest is ${actual.digest}, expected ${expected.digest}`,
      { hint: 'the source is corrupt or was modified; fetch or export it again' },
    );
  }
}
