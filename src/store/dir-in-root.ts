import { lstatSync, mkdirSync } from 'node:fs';
import { KilnError, ErrorCode, resolveInRootSync } from '../core/index.ts';

// Apart from extract.ts so that the store's door can export this synchronous helper while the
// layer extractor itself loads on first use (lazy.ts).

/**
 * Resolves a directory of the image inside `root` (core's resolveInRootSync: openat2
 * RESOLVE_IN_ROOT semantics, so no symlink of this layer or an earlier one leads out) and,
 * when `create`, makes what is missing of it (mode 0755): every component that exists was
 * lstat'ed and none is a symlink, so the directories made are inside the root. Returns the
 * host path of a real directory, or undefined when it does not exist (or is not a
 * directory) and `create` is false. Extraction has one writer (this process, in a private
 * directory), so the answer stays true while the entry is written.
 */
export function resolveDirInRoot(root: string, rel: string, create: boolean, what = 'layer', name = rel): string | undefined {
  const dir = resolveInRootSync(root, rel);
  if (dir.exists) {
    if (lstatSync(dir.host, { throwIfNoEntry: false })?.isDirectory()) return dir.host;
    if (!create) return undefined;
    throw new KilnError(ErrorCode.BAD_ARCHIVE, `${what}: entry "${name}" needs /${dir.rel} to be a directory, and it is not`, {
      hint: 'the layer is corrupt; `kiln store verify` checks the store',
    });
  }
  if (!create) return undefined;
  mkdirSync(dir.host, { recursive: true, mode: 0o755 });
  return dir.host;
}
