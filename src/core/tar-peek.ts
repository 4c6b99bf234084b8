import { open } from 'node:fs/promises';

/** One tar header as read by {@link peekTarNames}. */
export interface TarHeaderInfo {
  name: string;
  size: number;
  type: string;
}

const BLOCK = 512;

function field(block: Buffer, start: number, length: number): string {
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
  const text = field(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** True when a 512-byte block is a tar header whose checksum is right. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  const stored = parseTarNumber(block, 148, 8);
  return stored === sum && sum !== 0x20 * 8;
}

function paxPath(data: Buffer): string | undefined {
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(off, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, off + len - 1).toString('utf8');
    if (record.startsWith('path=')) return record.slice(5);
    off += len;
  }
  return undefined;
}

/**
 * Reads the names of the first `limit` entries of an uncompressed tar file by seeking
 * from header to header, without reading entry contents. Used to detect archive formats.
 * Returns undefined when the file does not start with a tar header.
 */
export async function peekTarNames(path: string, limit: number): Promise<TarHeaderInfo[] | undefined> {
  const handle = await open(path, 'r');
  try {
    const entries: TarHeaderInfo[] = [];
    const block = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    while (entries.length < limit) {
      const { bytesRead } = await handle.read(block, 0, BLOCK, offset);
      if (bytesRead < BLOCK) return offset === 0 ? undefined : entries;
      if (block.every((b) => b === 0)) break;
      if (!isTarHeader(block)) return entries.length === 0 && longName === undefined ? undefined : entries;
      const size = parseTarNumber(block, 124, 12);
      const type = String.fromCharCode(block[156] || 0x30);
      const dataOffset = offset + BLOCK;
      offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(Math.min(size, 1 << 20));
        await handle.read(data, 0, data.length, dataOffset);
        longName = type === 'L' ? field(data, 0, data.length) : (paxPath(data) ?? longName);
        continue;
      }
      if (type === 'g') continue;
      // Only POSIX ustar headers carry a name prefix; GNU headers use those bytes for times.
      const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
      const prefix = posix ? field(block, 345, 155) : '';
      const base = field(block, 0, 100);
      const name = longName ?? (prefix ? `${prefix}/${base}` : base);
      longName = undefined;
      entries.push({ name, size, type });
    }
    return entries;
  } finally {
    await handle.close();
  }
}
