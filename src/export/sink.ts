import { constants, createReadStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno, syncDir, syncPath, tempSibling, writeFileAtomic } from '../core/index.ts';

/** A file or text to write under a name, with what is known of its content. */
export interface SinkItem {
  key: string;
  contentType: string;
  size: number;
  /** Hex sha256 of the content. */
  sha256: string;
  /** A local file, or the content itself (small: manifest.json, boot.ipxe). */
  file?: string;
  text?: string;
}

/** Where artifacts are written: a directory or an S3 bucket. Each put is atomic under its final name. */
export interface ArtifactSink {
  /** How a key is shown to the user (a path, or s3://bucket/key). */
  describe(key: string): string;
  /** Writes one item; 'unchanged' when the same content is already there. */
  put(item: SinkItem): Promise<'written' | 'unchanged'>;
}

/** Opens an item's content as a stream. */
export function openItem(item: SinkItem): NodeJS.ReadableStream | string {
  return item.file !== undefined ? createReadStream(item.file) : (item.text ?? '');
}

/**
 * Writes into a directory. Files are hardlinked from the export cache when it is on the
 * same filesystem (instant, no extra space; treat them as read-only), copied otherwise;
 * either way to a temporary name first, then renamed over the final one.
 */
export function createDirSink(root: string): ArtifactSink {
  return {
    describe: (key) => join(root, key),
    put: async (item) => {
      const dest = join(root, item.key);
      await mkdir(dirname(dest), { recursive: true });
      if (item.text !== undefined) {
        const current = await readFile(dest, 'utf8').catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
        if (current === item.text) return 'unchanged';
        await writeFileAtomic(dest, item.text);
        return 'written';
      }
      const file = item.file as string;
      const [src, existing] = await Promise.all([stat(file), stat(dest).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)))]);
      if (existing && existing.ino === src.ino && existing.dev === src.dev) return 'unchanged';
      const tmp = tempSibling(dest);
      try {
        try {
          await link(file, tmp);
        } catch (err) {
          if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EPERM')) throw err;
          await copyFile(file, tmp, constants.COPYFILE_FICLONE);
          await syncPath(tmp);
        }
        await rename(tmp, dest);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      await syncDir(dirname(dest));
      return 'written';
    },
  };
}

