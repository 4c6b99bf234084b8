import { createReadStream } from 'node:fs';
import { lstat, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { HashingStream, KilnError, ErrorCode, MediaType, isErrno, resolveInRoot, start } from '../core/index.ts';
import { applyLayer, parseImageRef, type Descriptor } from '../store/index.ts';

/** One side of `kiln image cp`: a host path, or a path inside an image (WalT's `<image>:<path>`). */
export type CopyLocation = { kind: 'host'; path: string } | { kind: 'image'; image: string; path: string };

/**
 * Parses WalT's cp syntax: `<image>:<path>` names a path inside an image (relative paths are
 * relative to its root), anything else a host path. A host path with a colon is written
 * with a slash before it (`./a:b`, `/tmp/a:b`).
 */
export function parseCopyLocation(text: string, user: string): CopyLocation {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || text.startsWith('/') || text.startsWith('.')) return { kind: 'host', path: text };
  const image = text.slice(0, colon);
  // Validates the name; a bad one is a usage error that names the syntax.
  parseImageRef(image, user, { allowReserved: true });
  return { kind: 'image', image, path: posix.normalize(`/${text.slice(colon + 1)}`) };
}

/** GNU tar flags that keep modes, owners, ACLs and xattrs (the same as Kiln's layers). */
const TAR_KEEP = ['--format=posix', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*', '--acls'];

/** A sed replacement with `\`, `&` and the `,` delimiter escaped. */
const sedEscape = (text: string): string => text.replace(/[\\&,]/g, (c) => `\\${c}`);

/**
 * Streams `name` (an entry of `dir`, or `.` for `dir` itself) as a tar whose first path
 * component is renamed to `as`, symlink targets untouched; tar archives symlinks as links,
 * never what they point to.
 */
export function tarEntry(dir: string, name: string, as: string, signal?: AbortSignal): { stream: Readable; done: Promise<void> } {
  const args = ['-c', '-f', '-', '-C', dir, ...TAR_KEEP, `--transform=s,^[^/]*,${sedEscape(as)},S`, '--', name];
  const tar = start('tar', args, { stdout: 'pipe', ...(signal ? { signal } : {}) });
  return { stream: tar.child.stdout as Readable, done: tar.done };
}

/** Where a source entry is, as tar wants it: its directory and name. */
export function entryOf(path: string): { dir: string; name: string } {
  return path === '' || path === '/' ? { dir: path || '/', name: '.' } : { dir: dirname(path), name: basename(path) };
}

/**
 * Writes a tar stream into an image root with the store's extractor: every entry is
 * resolved inside the root, so no symlink of the image leads a write out of it. The tar
 * is spooled to `work` first (the extractor reads it twice: whiteouts, then entries).
 */
export async function applyTarInRoot(root: string, tar: { stream: Readable; done: Promise<void> }, work: string, signal?: AbortSignal): Promise<void> {
  const file = join(work, 'copy.tar');
  const hashing = new HashingStream();
  await Promise.all([pipeline(tar.stream, hashing, createWriteStream(file), signal ? { signal } : {}), tar.done]);
  const layer: Descriptor = { mediaType: MediaType.ociLayer, digest: hashing.digest, size: hashing.size };
  try {
    await applyLayer(root, layer, () => createReadStream(file), { mode: 'merge', ...(signal ? { signal } : {}) });
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * Where a copy lands in an image root, as `cp` decides: into `path` when it is a directory
 * (resolved inside the root), else at `path` itself, whose parent must exist. Returns the
 * destination relative to the root, every symlink of its parents resolved inside the image.
 */
export async function imageDestination(root: string, path: string, sourceName: string): Promise<string> {
  const at = await resolveInRoot(root, path);
  if (at.exists && (await stat(at.host)).isDirectory()) {
    if (sourceName === '.') return at.rel;
    return posix.join(at.rel, sourceName);
  }
  const parent = await resolveInRoot(root, posix.dirname(path));
  if (!parent.exists || !(await stat(parent.host)).isDirectory()) {
    throw new KilnError(ErrorCode.NOT_FOUND, `${posix.dirname(path)} is not a directory of the image`, { hint: 'copy into an existing directory of the image' });
  }
  if (parent.rel === '' && posix.basename(path) === '') throw new KilnError(ErrorCode.UNSAFE_PATH, 'cannot replace the image\'s root directory');
  return posix.join(parent.rel, posix.basename(path));
}

/** Where a copy lands on the host: into `path` when it is a directory, else at `path`. */
export async function hostDestination(path: string, sourceName: string): Promise<{ dir: string; name: string }> {
  const full = resolve(path);
  try {
    if ((await stat(full)).isDirectory()) return sourceName === '.' ? { dir: dirname(full), name: basename(full) } : { dir: full, name: sourceName };
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await lstat(dirname(full)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) throw new KilnError(ErrorCode.NOT_FOUND, `${dirname(full)} does not exist`, { hint: 'copy into an existing directory' });
    throw err;
  });
  return { dir: dirname(full), name: basename(full) };
}

/** Unpacks a tar stream into a host directory with GNU tar, keeping owners, modes, ACLs and xattrs; it reads to the end (--ignore-zeros), so the writer never meets a closed pipe. */
export async function extractOnHost(dir: string, tar: { stream: Readable; done: Promise<void> }, signal?: AbortSignal): Promise<void> {
  const x = start('tar', ['-x', '-f', '-', '-C', dir, '--ignore-zeros', '--same-owner', '--same-permissions', ...TAR_KEEP.filter((f) => f !== '--format=posix')], { stdin: 'pipe', ...(signal ? { signal } : {}) });
  await Promise.all([pipeline(tar.stream, x.child.stdin as NodeJS.WritableStream), tar.done, x.done]);
}

/** The source of a copy inside a mounted image: its entry, resolved inside the image root (absolute symlinks included). */
export async function imageSource(root: string, path: string): Promise<{ dir: string; name: string }> {
  const at = await resolveInRoot(root, path);
  if (!at.exists) throw new KilnError(ErrorCode.NOT_FOUND, `${path} does not exist in the image`, { hint: 'check the path: it is resolved against the image\'s root' });
  return at.rel === '' ? { dir: root, name: '.' } : { dir: dirname(at.host), name: basename(at.host) };
}
