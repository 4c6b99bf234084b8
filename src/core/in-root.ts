import { constants } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError, ErrorCode, isErrno } from './errors.ts';

/** Symlinks followed before resolution gives up, as the kernel's path walk (MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;

/** A path of an image resolved inside its root directory. */
export interface InRootPath {
  /** The resolved path relative to the root, without symlinks ("" is the root itself); no "..", no leading "/". */
  rel: string;
  /** `root` joined with `rel`: a host path that no symlink of the image leads out of. */
  host: string;
  /** Whether the resolved path exists (when `followLast` is false, the last component may be a symlink). */
  exists: boolean;
  /** How many symlinks were followed; 0 when the path is what it says. */
  links: number;
}

/** Options of {@link resolveInRoot}. */
export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true); false to act on the link itself (remove, lstat). */
  followLast?: boolean;
}

const parts = (path: string): string[] => path.split('/').filter((p) => p !== '' && p !== '.');

/**
 * Resolves `path` as the image rooted at `root` sees it, with openat2(2) RESOLVE_IN_ROOT
 * semantics: components are walked one by one with lstat/readlink, an absolute symlink
 * target restarts at the root, ".." stops at the root, and more than {@link MAX_SYMLINKS}
 * links is an error (a loop). Missing components are kept as they are, so the result
 * also names a path to create. Nothing the image holds can make the result leave `root`.
 */
export function resolveInRootSync(root: string, path: string, options: ResolveOptions = {}): InRootPath {
  const followLast = options.followLast ?? true;
  const done: string[] = [];
  const present: boolean[] = [];
  const todo = parts(path);
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift() as string;
    if (name === '..') {
      done.pop();
      present.pop();
      continue;
    }
    const candidate = [...done, name];
    let info;
    try {
      info = lstatSync(join(root, ...candidate), { throwIfNoEntry: false });
    } catch (err) {
      if (!isErrno(err, 'ENOTDIR')) throw err;
      info = undefined;
    }
    if (!info?.isSymbolicLink() || (todo.length === 0 && !followLast)) {
      done.push(name);
      present.push(info !== undefined);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new KilnError(ErrorCode.UNSAFE_PATH, `${path}: more than ${MAX_SYMLINKS} symlinks to follow in the image at ${root} (a symlink loop)`, {
        hint: 'the image has a symlink loop on this path; fix or remove the link in the image',
      });
    }
    const target = readlinkSync(join(root, ...candidate));
    if (target.startsWith('/')) {
      done.length = 0;
      present.length = 0;
    }
    todo.unshift(...parts(target));
  }
  const rel = done.join('/');
  return { rel, host: rel === '' ? root : join(root, rel), exists: present.at(-1) ?? true, links };
}

/**
 * {@link resolveInRootSync} for callers on the async path. The walk is a few lstat calls,
 * cheaper done at once than as round trips through the thread pool.
 */
export async function resolveInRoot(root: string, path: string, options: ResolveOptions = {}): Promise<InRootPath> {
  return resolveInRootSync(root, path, options);
}

/** Creates directory `path` of the image rooted at `root` (and its missing parents) without following a symlink out; returns it. */
export async function mkdirInRoot(root: string, path: string, mode = 0o755): Promise<InRootPath> {
  const dir = await resolveInRoot(root, path);
  // Each missing component is created as a plain directory: none of them is a symlink.
  await mkdir(dir.host, { recursive: true, mode });
  return dir;
}

/** Writes a file of the image rooted at `root`, creating its directory; a symlink on the way is resolved inside the root. */
export async function writeFileInRoot(root: string, path: string, data: string | Uint8Array, mode = 0o644): Promise<InRootPath> {
  const names = parts(path);
  const leaf = names.pop();
  if (leaf === undefined || leaf === '..') throw new KilnError(ErrorCode.UNSAFE_PATH, `${path}: not a file path`);
  await mkdirInRoot(root, names.join('/'));
  const file = await resolveInRoot(root, path);
  // O_NOFOLLOW: the resolved path has no symlink left; one appearing now is refused, not followed.
  const handle = await open(file.host, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
  return file;
}

/** Removes `path` of the image rooted at `root` (a symlink itself, not its target); absent is fine. */
export async function removeInRoot(root: string, path: string, options: { recursive?: boolean } = {}): Promise<void> {
  const target = await resolveInRoot(root, path, { followLast: false });
  if (target.rel === '') throw new KilnError(ErrorCode.UNSAFE_PATH, `${path}: refusing to remove the root of the image`);
  if (target.exists) await rm(target.host, { force: true, recursive: options.recursive === true });
}

/** Whether `path` exists in the image rooted at `root`, its symlinks resolved inside the root. */
export async function existsInRoot(root: string, path: string): Promise<boolean> {
  return (await resolveInRoot(root, path)).exists;
}
