import { open, rename, rm, mkdir, mkdtemp, lstat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrno } from './errors.ts';
import { leases } from './lease.ts';

/** fsyncs a file, or a directory so that a rename inside it survives a crash. */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory (a rename inside it then survives a crash). */
export const syncDir = syncPath;

/** True when a process with this pid runs (on this machine); used to tell stale work files from live ones. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/** A unique temporary file name next to `path` (same filesystem, so rename is atomic). */
export function tempSibling(path: string): string {
  // node:crypto loads on first use, not at start-up (listing images hashes nothing).
  return join(dirname(path), `.tmp-${process.pid}-${process.getBuiltinModule('node:crypto').randomBytes(6).toString('hex')}-${basenameOf(path)}`);
}

function basenameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** Creates a new file (never overwriting one) with `data`, and fsyncs it. */
export async function writeFileSynced(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempSibling(path);
  await writeFileSynced(tmp, data, mode);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Replaces `path` whole by rename, without fsync: for caches whose files can be made again.
 * A failed write leaves no temporary file; one left by a killed process is named by
 * {@link tempSibling} with its pid (see {@link tempSiblingOwner}).
 */
export async function writeFileReplacing(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The pid in a {@link tempSibling} name, or undefined for another name. */
export function tempSiblingOwner(name: string): number | undefined {
  const m = /^\.tmp-(\d+)-/u.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Creates a fresh private work directory `<prefix>-<pid>-…` under `parent`, and holds its
 * lease (see lease.ts) until it is removed with {@link removeTree}.
 */
export async function makeWorkDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `${prefix}-${process.pid}-`));
  leases.hold(dir);
  return dir;
}

/** The owner's pid in the name of work made by {@link makeWorkDir} (`<prefix>-<pid>-…`), if it is such a name. */
export function workDirOwner(name: string): number | undefined {
  const pid = /^[a-z]+-(\d+)-/u.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** Removes a file or directory tree (ending its lease, if any); absent is fine. */
export async function removeTree(path: string): Promise<void> {
  leases.release(path);
  await rm(path, { recursive: true, force: true });
}

/** True when `path` exists (any type, symlinks not followed). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
