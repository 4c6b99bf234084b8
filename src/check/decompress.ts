import { inflateRawSync, zstdDecompressSync } from 'node:zlib';
import { start } from '../core/index.ts';
import type { Compression } from './kconfig.ts';

/** Decompressed bytes, possibly partial: kernels and initramfs images carry data after their compressed payload. */
export interface Decompressed {
  data: Buffer;
  /** Why decompression stopped early (trailing data, corruption, the limit), when it did. */
  stopped?: string;
}

const TOOLS: Readonly<Record<'xz' | 'lz4' | 'bzip2', readonly [string, readonly string[]]>> = {
  xz: ['xz', ['-dc', '--single-stream']],
  lz4: ['lz4', ['-dc']],
  bzip2: ['bzip2', ['-dc']],
};

/**
 * Decompresses `data` up to `limit` output bytes: gzip and zstd with Node's zlib, xz, lz4
 * and bzip2 with their tools (through core's start). Never throws for bad data: what was
 * decompressed before an error is returned with the reason.
 */
export async function decompress(compression: Compression, data: Buffer, limit: number): Promise<Decompressed> {
  const chunks: Buffer[] = [];
  let size = 0;
  let stopped: string | undefined;
  const take = (chunk: Buffer): boolean => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) stopped = `output larger than ${limit >> 20} MiB`;
    return stopped === undefined;
  };
  if (compression === 'gzip' || compression === 'zstd') {
    // Synchronous calls: they stop at the end of the first gzip member / zstd frame and
    // ignore what follows (streams reject the trailing bytes and drop the output with them).
    try {
      const body = compression === 'gzip' ? deflateBody(data) : data;
      const out = compression === 'gzip' ? inflateRawSync(body, { maxOutputLength: limit }) : zstdDecompressSync(body, { maxOutputLength: limit });
      return { data: out };
    } catch (err) {
      return { data: Buffer.alloc(0), stopped: (err as Error).message };
    }
  } else {
    const [tool, args] = TOOLS[compression];
    let running;
    try {
      running = start(tool, args, { stdin: 'pipe', stdout: 'pipe' });
    } catch (err) {
      return { data: Buffer.alloc(0), stopped: (err as Error).message };
    }
    const { child, done } = running;
    child.stdin?.on('error', () => undefined); // the tool may stop reading at the end of its stream: EPIPE is expected
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!take(chunk)) child.kill();
    });
    child.stdin?.end(data);
    try {
      await done;
    } catch (err) {
      stopped ??= (err as Error & { hint?: string }).message + ((err as { code?: string }).code === 'TOOL_MISSING' ? ` (${(err as { hint?: string }).hint})` : '');
    }
  }
  const out = Buffer.concat(chunks);
  return { data: out.subarray(0, Math.min(out.length, limit)), ...(stopped ? { stopped } : {}) };
}

/** The raw deflate data of a gzip member: after its header and optional fields (RFC 1952, 2.3). */
function deflateBody(data: Buffer): Buffer {
  if (data.length < 10 || data[0] !== 0x1f || data[1] !== 0x8b || data[2] !== 8) throw new Error('not gzip data');
  const flags = data[3] as number;
  let at = 10;
  if (flags & 4) at += 2 + data.readUInt16LE(at);
  if (flags & 8) at = data.indexOf(0, at) + 1;
  if (flags & 16) at = data.indexOf(0, at) + 1;
  if (flags & 2) at += 2;
  if (at <= 0 || at > data.length) throw new Error('truncated gzip header');
  return data.subarray(at);
}
