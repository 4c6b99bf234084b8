import { KilnError, ErrorCode } from './errors.ts';
import { TAR_BLOCK, applyTarMeta, decodeTarHeader, paddedSize, type PendingMeta, type ScannedMember } from './tar-header.ts';
import { checkLimits } from './tar-scan.ts';
import { limitExceeded, tarLimits, type TarLimits } from './tar-limits.ts';

function truncated(what: string): KilnError {
  return new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: tar stream ends inside a member`, { hint: 'the archive or layer is truncated or corrupt' });
}

/** Reads exact byte counts from an async stream of chunks, without copying data it only passes on. */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #eof = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Takes the next chunk as the buffer, which must be empty (chunks are never joined: a layer's are a MiB each). */
  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    const next = await this.#it.next();
    if (next.done) {
      this.#eof = true;
      return false;
    }
    this.#buf = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    return true;
  }

  /** Exactly `n` bytes (copied), or fewer when the stream ends first. */
  async exact(n: number): Promise<Buffer> {
    if (this.#buf.length >= n) {
      const out = Buffer.from(this.#buf.subarray(0, n));
      this.#buf = this.#buf.subarray(n);
      return out;
    }
    // A header across a chunk boundary: only its own bytes are gathered, not the next chunk.
    const parts = [this.#buf];
    let have = this.#buf.length;
    this.#buf = Buffer.alloc(0);
    while (have < n && (await this.#more())) {
      const take = this.#buf.subarray(0, Math.min(n - have, this.#buf.length));
      parts.push(take);
      have += take.length;
      this.#buf = this.#buf.subarray(take.length);
    }
    return Buffer.concat(parts, have);
  }

  /** Up to `n` bytes as they arrive; fewer only when the stream ends. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#more())) return;
      const piece = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      this.#buf = this.#buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  /** Skips `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let seen = 0;
    for await (const piece of this.chunks(n)) seen += piece.length;
    return seen;
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

/**
 * Walks an uncompressed tar stream member by member with the same header decoder as the
 * layer index (so what is checked and what is extracted are one parse). `onMember` gets
 * the member and its data; data it does not read is skipped. Returns the member count.
 * Fails with BAD_ARCHIVE on a malformed or truncated stream, LIMIT_EXCEEDED past the tar limits.
 */
export async function readTarMembers(
  source: AsyncIterable<Buffer>,
  what: string,
  onMember: (member: ScannedMember, data: AsyncIterable<Buffer>) => Promise<void>,
  limits: Readonly<TarLimits> = tarLimits(),
): Promise<number> {
  const reader = new ByteReader(source);
  const pending: PendingMeta = { pax: {} };
  let offset = 0;
  let count = 0;
  try {
    for (;;) {
      const block = await reader.exact(TAR_BLOCK);
      if (block.length === 0 && count === 0) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} holds no tar entries`, { hint: 'the archive is empty or not a tar file' });
      // A stream may end without the end-of-archive blocks (some writers omit them).
      if (block.length === 0) break;
      if (block.length < TAR_BLOCK) throw truncated(what);
      offset += TAR_BLOCK;
      if (offset > limits.maxLayerSize) throw limitExceeded(what, 'maxLayerSize', offset, limits.maxLayerSize);
      const decoded = decodeTarHeader(block, pending, offset, what);
      if (decoded.kind === 'end') break;
      if (decoded.kind === 'meta') {
        const data = await reader.exact(decoded.size);
        if (data.length < decoded.size) throw truncated(what);
        applyTarMeta(pending, decoded.flag, data);
        const pad = paddedSize(decoded.size) - decoded.size;
        if ((await reader.skip(pad)) < pad) throw truncated(what);
        offset += paddedSize(decoded.size);
        continue;
      }
      const { member } = decoded;
      checkLimits(what, limits, ++count, member);
      let left = member.size;
      const data: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: async function* () {
          for await (const piece of reader.chunks(left)) {
            left -= piece.length;
            yield piece;
          }
          if (left > 0) throw truncated(what);
        },
      };
      await onMember(member, data);
      if (left > 0 && (await reader.skip(left)) < left) throw truncated(what);
      const pad = paddedSize(member.size) - member.size;
      if ((await reader.skip(pad)) < pad) throw truncated(what);
      offset += paddedSize(member.size);
    }
  } finally {
    await reader.close();
  }
  return count;
}
