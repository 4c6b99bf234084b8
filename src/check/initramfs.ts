import { isCpioAt, parseCpio } from './cpio.ts';
import { decompress } from './decompress.ts';
import { compressionAt } from './kconfig.ts';
import type { InitramfsListing } from './types.ts';

const DECOMPRESSED_LIMIT = 1 << 30;
const MAX_SEGMENTS = 16;

/**
 * Lists every member of an initramfs: one or more cpio "newc" archives, each plain or
 * compressed (gzip, zstd, xz, lz4, bzip2), concatenated, possibly zero-padded (the
 * kernel's own rules, Documentation/driver-api/early-userspace/buffer-format.rst).
 */
export async function listInitramfs(data: Buffer, truncated: boolean): Promise<InitramfsListing> {
  if (truncated) return { ok: false, reason: 'the initramfs is too large to read whole' };
  const names = new Set<string>();
  const layout: string[] = [];
  const walk = async (buf: Buffer, compressed: string, depth: number): Promise<string | undefined> => {
    let at = 0;
    while (at < buf.length && layout.length < MAX_SEGMENTS) {
      while (at < buf.length && buf[at] === 0) at++;
      if (at >= buf.length) break;
      if (isCpioAt(buf, at)) {
        const archive = parseCpio(buf, at);
        for (const n of archive.names) names.add(n);
        layout.push(compressed ? `${compressed} cpio` : 'cpio');
        if (archive.error) return archive.error;
        at = archive.end;
        continue;
      }
      const compression = depth === 0 ? compressionAt(buf, at) : undefined;
      if (!compression) return `unrecognised data at offset ${at}${compressed ? ` of the ${compressed}-decompressed data` : ''}`;
      // A compressed segment runs to the end of the file: its length is not recorded anywhere.
      const out = await decompress(compression, buf.subarray(at), DECOMPRESSED_LIMIT);
      if (out.data.length === 0) return `could not decompress the ${compression} data at offset ${at}: ${out.stopped ?? 'empty'}`;
      return walk(out.data, compression, depth + 1);
    }
    return undefined;
  };
  const problem = await walk(data, '', 0);
  if (names.size === 0) return { ok: false, reason: problem ?? 'empty initramfs' };
  return { ok: true, names, layout: layout.join(' + ') + (problem ? ` (then: ${problem})` : '') };
}
