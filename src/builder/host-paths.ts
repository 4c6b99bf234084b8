import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { isErrno } from '../core/index.ts';

/** The CLI flag and the kiln.yaml setting that allow copyfiles sources outside the spec's directory. */
export const ALLOW_HOST_PATH_FLAG = '--allow-host-path';
export const ALLOW_HOST_PATHS_SETTING = 'allow_host_paths';

/** Whether `path` is `root` or below it (both absolute, normalized, symlinks already resolved). Pure. */
export function isWithin(path: string, root: string): boolean {
  if (root === sep) return path.startsWith(sep);
  return path === root || path.startsWith(`${root}${sep}`);
}

/**
 * Why a copyfiles source may not be copied, or undefined when it may: its real path
 * (symlinks resolved) must be inside the spec's directory, as a Docker build context, or
 * inside one of the roots the user allowed by name. All paths are real paths. Pure.
 */
export function copySourceProblem(src: string, real: string, specDir: string, allowed: readonly string[]): string | undefined {
  if (isWithin(real, specDir) || allowed.some((root) => isWithin(real, root))) return undefined;
  const resolves = real === resolve(specDir, src) ? '' : ` (it resolves to ${real})`;
  return `"${src}" is outside the spec's directory ${specDir}${resolves}: a build copies files from the spec's directory only, `
    + `unless their root is allowed with ${ALLOW_HOST_PATH_FLAG} <dir> or "${ALLOW_HOST_PATHS_SETTING}:" in kiln.yaml `
    + '(OpenCHAMI specs that copy from absolute host paths keep working with that one setting)';
}

/** The real path of a file, or undefined when it does not exist. */
export async function realPathOf(path: string): Promise<string | undefined> {
  return realpath(path).catch((err: unknown) => (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') ? undefined : Promise.reject(err)));
}

/** The real paths of the allowed roots (as given when they do not exist: nothing is under them then). */
export async function realRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(roots.map(async (r) => (await realPathOf(resolve(r))) ?? resolve(r)));
}

/** The real directory of a spec file: relative copyfiles sources are relative to it. */
export async function specDirOf(file: string): Promise<string> {
  const dir = resolve(dirname(file));
  return (await realPathOf(dir)) ?? dir;
}

/**
 * Every host file a copyfiles source copies, for the plan: the source itself, and for a
 * directory each entry below it. Symlinks are listed with their target: they are copied
 * as symlinks, never followed.
 */
export async function listHostFiles(path: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (full: string): Promise<void> => {
    const st = await lstat(full);
    if (st.isSymbolicLink()) out.push(`${full} -> ${await readlink(full)} (a symlink, copied as one)`);
    else if (st.isDirectory()) {
      out.push(`${full}/`);
      for (const name of (await readdir(full)).sort()) await walk(join(full, name));
    } else out.push(full);
  };
  await walk(path);
  return out;
}
