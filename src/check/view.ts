import { treePath, type FileContent, type ImageTree, type TreeEntry } from '../store/index.ts';
import type { CheckInput, Need } from './types.ts';

/** Byte limits of what rules read: config text, ELF headers, whole binaries, kernels, initramfs images. */
export const LIMITS = { text: 1 << 20, header: 64 << 10, binary: 32 << 20, kernel: 128 << 20, initramfs: 256 << 20 } as const;

/** The directories a boot script's PATH holds, in lookup order. */
export const PATH_DIRS = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin'] as const;

/** A regular file reached by following links inside the image, or why there is none. */
export type Located = { ok: true; path: string; entry: TreeEntry } | { ok: false; reason: string };

/** Follows `path` inside the image to a regular file. */
export function locateFile(tree: ImageTree, path: string): Located {
  const r = tree.resolve(path);
  if (!r.ok) {
    const why = r.reason === 'loop' ? `symlink loop at /${r.path}` : r.reason === 'missing' ? `missing (/${r.path})` : `/${r.path} is not a directory`;
    return { ok: false, reason: r.escaped ? `its links climb above the image root, and ${why}` : why };
  }
  if (r.escaped) return { ok: false, reason: `its links climb above the image root (to /${r.path})` };
  if (!r.entry) return { ok: false, reason: 'a directory' };
  if (r.entry.type !== 'file') return { ok: false, reason: r.entry.type === 'directory' ? 'a directory' : `a ${r.entry.type}, not a regular file` };
  return { ok: true, path: r.path, entry: r.entry };
}

/** True when `path` leads to a directory inside the image. */
export function isDirectory(tree: ImageTree, path: string): boolean {
  const r = tree.resolve(path);
  return r.ok && !r.escaped && (r.entry === undefined || r.entry.type === 'directory');
}

/** True when a file has an execute bit. */
export function isExecutable(entry: TreeEntry): boolean {
  return (entry.mode & 0o111) !== 0;
}

/** Where a command is found in the PATH directories, as a regular executable file. */
export function findCommand(tree: ImageTree, name: string): Extract<Located, { ok: true }> | undefined {
  for (const dir of PATH_DIRS) {
    const found = locateFile(tree, `${dir}/${name}`);
    if (found.ok && isExecutable(found.entry)) return { ok: true, path: `${dir}/${name}`, entry: found.entry };
  }
  return undefined;
}

/** A file need, in tree form. */
export function needFile(path: string, limit: number = LIMITS.text): Need {
  return { kind: 'file', path: treePath(path), limit };
}

/** What was loaded for `path`, if anything. */
export function loaded(input: CheckInput, path: string): FileContent | undefined {
  return input.files.get(treePath(path));
}

/** The text of a loaded file (undefined when absent or unread). */
export function loadedText(input: CheckInput, path: string): string | undefined {
  const c = loaded(input, path);
  return c?.ok ? c.data.toString('utf8') : undefined;
}

/** Files of a directory whose names match a shell glob, sorted as glob(3) sorts them. */
export function globTree(tree: ImageTree, pattern: string): string[] {
  let current = [''];
  for (const part of treePath(pattern).split('/')) {
    const re = new RegExp(`^${part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    const next: string[] = [];
    for (const dir of current) {
      if (!/[*?[]/.test(part)) {
        const p = dir === '' ? part : `${dir}/${part}`;
        if (tree.resolve(p).ok) next.push(p);
        continue;
      }
      const r = tree.resolve(dir);
      if (!r.ok || r.escaped) continue;
      for (const child of tree.children(r.path)) {
        const name = child.path.slice(child.path.lastIndexOf('/') + 1);
        if (re.test(name) && !name.startsWith('.')) next.push(dir === '' ? name : `${dir}/${name}`);
      }
    }
    current = next;
  }
  return current.sort();
}
