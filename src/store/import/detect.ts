import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, isErrno, safeMemberName, scanTarFile, sniffFileCompression } from '../../core/index.ts';

/** The formats `kiln image import` reads and `kiln image export` writes. */
export const IMAGE_FORMATS = ['oci', 'oci-archive', 'docker-archive', 'rootfs'] as const;
/** One of {@link IMAGE_FORMATS}. */
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Validates a `--format` value. */
export function parseImageFormat(text: string): ImageFormat {
  if ((IMAGE_FORMATS as readonly string[]).includes(text)) return text as ImageFormat;
  throw new KilnError(ErrorCode.USAGE, `unknown image format "${text}"`, { hint: `use one of: ${IMAGE_FORMATS.join(', ')}` });
}

const PEEK_ENTRIES = 512;

/** Classifies tar member names: a layout, a docker-archive, or a root filesystem. */
export function classifyTarNames(names: readonly string[]): ImageFormat {
  const set = new Set(names.map((n) => safeMemberName(n) ?? n));
  if (set.has('manifest.json') || set.has('repositories')) return 'docker-archive';
  if (set.has('oci-layout') || set.has('index.json') || [...set].some((n) => n.startsWith('blobs/sha256/'))) return 'oci-archive';
  return 'rootfs';
}

/** Detects what `path` holds: an OCI layout directory, an OCI archive, a docker-archive or a rootfs tarball. */
export async function detectImageFormat(path: string): Promise<ImageFormat> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new KilnError(ErrorCode.NOT_FOUND, `${path} does not exist`, { cause: err, hint: 'give the path of an OCI layout directory, an OCI or docker archive, or a rootfs tarball' });
    throw err;
  }
  if (info.isDirectory()) {
    try {
      await lstat(join(path, 'oci-layout'));
      return 'oci';
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} is a directory but not an OCI image layout (no oci-layout file)`, {
        hint: 'pass an OCI layout directory, an OCI or docker archive, or a root filesystem tarball (tar -C DIR -cf rootfs.tar .)',
      });
    }
  }
  if (!info.isFile()) throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} is not a regular file or directory`, { hint: 'give a file or an OCI layout directory' });
  if ((await sniffFileCompression(path)) !== 'none') return 'rootfs';
  const entries = scanTarFile(path, path, PEEK_ENTRIES);
  if (entries === undefined) {
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${path} is neither a tar archive nor an OCI layout`, {
      hint: 'import an OCI layout directory, an OCI archive, a docker-archive or a (gzip/zstd) root filesystem tarball',
    });
  }
  return classifyTarNames(entries.map((e) => e.name));
}
