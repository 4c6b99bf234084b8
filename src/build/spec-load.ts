import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KilnError, ErrorCode, isErrno } from '../core/index.ts';
import { formatProblems, parseSpec, specPosition, type BuildSpec } from './spec.ts';

/** The host path of a copyfiles source: relative paths are relative to the spec file. */
export function copySource(spec: Pick<BuildSpec, 'file'>, src: string): string {
  return resolve(dirname(spec.file), src);
}

/** Problems with the host files a spec names (missing copyfiles sources, playbooks, inventory), as "file:line:col: message". */
export async function checkSpecFiles(spec: Pick<BuildSpec, 'file' | 'copyfiles' | 'positions'> & { options?: Pick<BuildSpec['options'], 'playbooks' | 'inventory'> }): Promise<string[]> {
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
  for (const [i, c] of spec.copyfiles.entries()) {
    try {
      const info = await stat(copySource(spec, c.src));
      if (!info.isFile() && !info.isDirectory()) out.push(`${specPosition(spec, `copyfiles[${i}].src`)}: copyfiles[${i}].src "${c.src}" is not a file or directory`);
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      out.push(`${specPosition(spec, `copyfiles[${i}].src`)}: copyfiles[${i}].src "${c.src}" does not exist (looked for ${copySource(spec, c.src)})`);
    }
  }
  return out;
}

/** The error that reports every problem of every spec at once. */
export function specError(lines: readonly string[]): KilnError {
  const n = lines.length;
  return new KilnError(ErrorCode.CONFIG, `${n} problem${n === 1 ? '' : 's'} in the image spec${n === 1 ? '' : 's'}:\n  ${lines.join('\n  ')}`, {
    hint: 'fix each place named above (file:line:col); keys and values are those of the OpenCHAMI image-builder format (see the README, "Building images")',
  });
}

/** Reads and validates spec files; throws one CONFIG error listing every problem of every file. */
export async function loadSpecs(files: readonly string[]): Promise<BuildSpec[]> {
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
    if (read) problems.push(...(await checkSpecFiles(read)));
    if (parsed.spec) specs.push(parsed.spec);
  }
  if (problems.length > 0) throw specError(problems);
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
