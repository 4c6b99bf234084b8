import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KilnError, ErrorCode, isErrno } from '../core/index.ts';
import { formatProblems, parseSpec, specPosition, type BuildSpec } from './spec.ts';
import { ALLOW_HOST_PATH_FLAG, ALLOW_HOST_PATHS_SETTING, copySourceProblem, realPathOf, realRoots, specDirOf } from './host-paths.ts';

const HOST_PATH_HINT = `move the files next to the spec, or name the host directory they come from: kiln image build ${ALLOW_HOST_PATH_FLAG} <dir> `
  + `(repeatable), or "${ALLOW_HOST_PATHS_SETTING}: [<dir>, ...]" in kiln.yaml; OpenCHAMI specs that copy from absolute host paths keep working with that one setting`;

/** The host path of a copyfiles source: relative paths are relative to the spec file. */
export function copySource(spec: Pick<BuildSpec, 'file'>, src: string): string {
  return resolve(dirname(spec.file), src);
}

/** What {@link checkSpecFiles} is told: the host directories copyfiles may read besides the spec's own. */
export interface SpecFileOptions {
  /** Roots named by --allow-host-path and kiln.yaml's allow_host_paths. */
  allowHostPaths?: readonly string[];
}

/**
 * Problems with the host files a spec names (missing copyfiles sources, playbooks, inventory;
 * copyfiles sources whose real path is outside the spec's directory and the allowed roots),
 * as "file:line:col: message". `hosts` receives the real path of each valid copyfiles source.
 */
export async function checkSpecFiles(
  spec: Pick<BuildSpec, 'file' | 'copyfiles' | 'positions'> & { options?: Pick<BuildSpec['options'], 'playbooks' | 'inventory'> },
  options: SpecFileOptions = {},
  hosts: Map<string, string> = new Map(),
): Promise<string[]> {
  const out: string[] = [];
  const named: Array<[string, string, boolean]> = [
    ...(spec.options?.playbooks ?? []).map((p, i): [string, string, boolean] => [`options.playbooks[${i}]`, p, true]),
    ...(spec.options?.inventory !== undefined ? [['options.inventory', spec.options.inventory, false] as [string, string, boolean]] : []),
  ];
  for (const [path, file, mustBeFile] of named) {
    const info = await stat(copySource(spec, file)).catch((err: unknown) => (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') ? undefined : Promise.reject(err)));
    const at = specPosition(spec, spec.positions.has(path) ? path : path.replace(/\[\d+\]$/u, ''));
    if (!info) out.push(`${at}: ${path} "${file}" does not exist (looked for ${copySource(spec, file)})`);
    else if (mustBeFile && !info.isFile()) out.push(`${at}: ${path} "${file}" is not a file`);
  }
  const specDir = await specDirOf(spec.file);
  const allowed = await realRoots(options.allowHostPaths ?? []);
  for (const [i, c] of spec.copyfiles.entries()) {
    const at = specPosition(spec, `copyfiles[${i}].src`);
    const real = await realPathOf(copySource(spec, c.src));
    if (real === undefined) {
      out.push(`${at}: copyfiles[${i}].src "${c.src}" does not exist (looked for ${copySource(spec, c.src)})`);
      continue;
    }
    const problem = copySourceProblem(c.src, real, specDir, allowed);
    if (problem) {
      out.push(`${at}: copyfiles[${i}].src ${problem}`);
      continue;
    }
    const info = await stat(real);
    if (!info.isFile() && !info.isDirectory()) out.push(`${at}: copyfiles[${i}].src "${c.src}" is not a file or directory`);
    else hosts.set(c.src, real);
  }
  return out;
}

/** The error that reports every problem of every spec at once. */
export function specError(lines: readonly string[], hint?: string): KilnError {
  const n = lines.length;
  return new KilnError(ErrorCode.CONFIG, `${n} problem${n === 1 ? '' : 's'} in the image spec${n === 1 ? '' : 's'}:\n  ${lines.join('\n  ')}`, {
    hint: hint ?? 'fix each place named above (file:line:col); keys and values are those of the OpenCHAMI image-builder format (see the README, "Building images")',
  });
}

/**
 * Reads and validates spec files; throws one CONFIG error listing every problem of every file.
 * Each spec's `copyHosts` holds the checked real path of its copyfiles sources.
 */
export async function loadSpecs(files: readonly string[], options: SpecFileOptions = {}): Promise<BuildSpec[]> {
  const specs: BuildSpec[] = [];
  const problems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new KilnError(ErrorCode.NOT_FOUND, `cannot read spec ${file}: ${(err as Error).message}`, { cause: err, hint: 'check the path of the spec file' });
    }
    const parsed = parseSpec(text, file);
    problems.push(...formatProblems(file, parsed.problems));
    const read = parsed.spec ?? parsed.partial;
    const hosts = new Map<string, string>();
    if (read) problems.push(...(await checkSpecFiles(read, options, hosts)));
    if (parsed.spec) specs.push({ ...parsed.spec, copyHosts: hosts });
  }
  if (problems.length > 0) throw specError(problems, problems.some((p) => p.includes(ALLOW_HOST_PATH_FLAG)) ? HOST_PATH_HINT : undefined);
  return specs;
}

/** sha256 of a copyfiles source as the cache sees it: file modes, names and bytes (directories recursively). */
export async function hashCopySource(path: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (full: string, rel: string): Promise<void> => {
    const st = await lstat(full);
    hash.update(`${rel}\0${st.mode}\0`);
    if (st.isDirectory()) for (const name of (await readdir(full)).sort()) await walk(`${full}/${name}`, `${rel}/${name}`);
    else if (st.isSymbolicLink()) hash.update(await readlink(full));
    else hash.update(await readFile(full));
  };
  await walk(path, '.');
  return `sha256:${hash.digest('hex')}`;
}
