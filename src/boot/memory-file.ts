import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BootFile } from './types.ts';

/** A file Kiln holds in memory (a script it wrote, a fallback, an identity): its bytes, a hash for ETag, ranges. */
export function memoryFile(content: string | Buffer, served: string): BootFile {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return {
    size: data.length,
    etag: `"${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`,
    served,
    open: (range) => Readable.from([range ? data.subarray(range.start, range.end + 1) : data]),
  };
}
