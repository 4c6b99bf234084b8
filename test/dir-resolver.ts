/**
 * A BootResolver over one directory, for the TFTP tests and benchmark: `<path>` is the file
 * under the directory, symlinks followed but never out of it.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { BootFile, BootMiss, BootResolver } from '../src/boot/index.ts';

/** Resolves every client's requests inside `root`. */
export function createDirResolver(root: string): BootResolver {
  return {
    async resolve(_client, path): Promise<BootFile | BootMiss> {
      const top = await realpath(root);
      let full: string;
      try {
        full = await realpath(join(top, path));
      } catch {
        return { reason: 'not-found', detail: `${path} does not exist` };
      }
      if (full !== top && !full.startsWith(top + sep)) return { reason: 'forbidden', detail: `${path} leaves the directory` };
      const st = await stat(full);
      if (!st.isFile()) return { reason: 'not-found', detail: `${path} is not a file` };
      return {
        size: st.size,
        etag: `"${st.ino}-${st.mtimeMs}"`,
        open: (range) => createReadStream(full, range ?? {}),
        served: relative(top, full),
      };
    },
  };
}
