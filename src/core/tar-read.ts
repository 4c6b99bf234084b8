import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type TarStream from 'tar-stream';
import { KilnError, ErrorCode } from './errors.ts';

const require = createRequire(import.meta.url);

/**
 * The tar-stream library, loaded on first use: a process that never reads or writes a tar
 * (`kiln image show`, `kiln --version`) does not pay for it at start-up.
 */
export function tarStream(): typeof TarStream {
  return require('tar-stream') as typeof TarStream;
}

/** A tar entry's header as Kiln needs it. */
export interface TarEntryHeader {
  name: string;
  type: string;
  size: number;
  linkname: string | undefined;
}

/**
 * Walks a tar stream entry by entry. `onEntry` receives each entry's content as an
 * async iterable and must consume it (or return without touching it: it is drained).
 * A truncated or malformed tar fails with BAD_ARCHIVE naming `what`.
 */
export async function readTarEntries(
  source: Readable,
  what: string,
  onEntry: (header: TarEntryHeader, content: AsyncIterable<Buffer>) => Promise<void>,
): Promise<number> {
  const extract = tarStream().extract();
  let sourceError: unknown;
  source.on('error', (err) => {
    sourceError = err;
    extract.destroy(err);
  });
  source.pipe(extract);
  let count = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      count++;
      // tar-stream reads a size field it cannot decode as null and then waits forever for the member's data.
      if (typeof h.size !== 'number' || !Number.isSafeInteger(h.size) || h.size < 0) {
        throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: member "${h.name}" has an invalid size field`, { hint: 'the archive is corrupt; create it again' });
      }
      await onEntry(
        { name: h.name, type: h.type ?? 'file', size: h.size ?? 0, linkname: h.linkname ?? undefined },
        entry as unknown as AsyncIterable<Buffer>,
      );
      entry.resume();
    }
  } catch (err) {
    if (err instanceof KilnError) throw err;
    const cause = sourceError ?? err;
    if (cause instanceof KilnError) throw cause;
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} is not a valid tar archive: ${(cause as Error).message}`, {
      cause,
      hint: 'the archive is truncated or corrupt; create it again',
    });
  } finally {
    source.unpipe(extract);
    source.destroy();
  }
  if (count === 0) {
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what} holds no tar entries`, { hint: 'the archive is empty or not a tar file' });
  }
  return count;
}

/**
 * Normalises a tar member name ("./a//b/" → "a/b") and refuses names that would escape
 * the extraction root through "..". A leading "/" is dropped, as GNU tar does.
 */
export function safeMemberName(name: string): string | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.join('/');
}
