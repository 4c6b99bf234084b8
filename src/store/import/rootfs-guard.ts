import { KilnError, ErrorCode, safeMemberName, type ScannedMember } from '../../core/index.ts';

const HINT = 'the tarball is hostile or was made from outside the root; create it with tar -C ROOT -cf FILE .';

/**
 * Checks the members of one root filesystem tarball, in order, and fails with UNSAFE_PATH
 * on the first that would escape the root when extracted: a `..` name, a hardlink whose
 * target is out of the root or passes through a symlink, or a member written through a
 * symlink the same tarball made earlier (`etc -> /x`, then `etc/keep`), whatever the
 * symlink points to: in a single tarball such a write is hostile or broken. Only symlink
 * paths are remembered (and hardlinks to them, which are symlinks too once extracted), so
 * memory grows with the number of symlinks, not of members.
 */
export function createRootfsGuard(what: string): (member: Pick<ScannedMember, 'name' | 'type' | 'linkname'>) => void {
  const symlinks = new Set<string>();
  // Tar members come directory by directory: the last directory found free of symlinks
  // spares the walk up for its siblings, until a symlink at or above it appears.
  let cleanDir: string | undefined;
  /** The first proper ancestor of `name` that is a symlink member, if any. */
  const symlinkAbove = (name: string): string | undefined => {
    if (symlinks.size === 0) return undefined;
    const slash = name.lastIndexOf('/');
    if (slash === -1) return undefined;
    const dir = name.slice(0, slash);
    if (dir === cleanDir) return undefined;
    for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
      const ancestor = name.slice(0, i);
      if (symlinks.has(ancestor)) return ancestor;
    }
    cleanDir = dir;
    return undefined;
  };
  const addSymlink = (name: string): void => {
    symlinks.add(name);
    if (cleanDir !== undefined && (cleanDir === name || cleanDir.startsWith(`${name}/`))) cleanDir = undefined;
  };
  const refuse = (message: string): never => {
    throw new KilnError(ErrorCode.UNSAFE_PATH, `${what}: ${message}`, { hint: HINT });
  };
  return (member) => {
    const name = safeMemberName(member.name);
    if (name === undefined) refuse(`entry "${member.name}" escapes the root filesystem`);
    const through = symlinkAbove(name as string);
    if (through !== undefined) refuse(`entry "${member.name}" is written through the symlink "${through}" of the same tarball`);
    if (member.type === 'hardlink') {
      const target = safeMemberName(member.linkname);
      if (target === undefined) refuse(`entry "${member.name}" escapes the root filesystem (hardlink to "${member.linkname}")`);
      const via = symlinkAbove(target as string);
      if (via !== undefined) refuse(`hardlink "${member.name}" points through the symlink "${via}" of the same tarball`);
      if (symlinks.has(target as string)) addSymlink(name as string);
    } else if (member.type === 'symlink') {
      if (name === '') refuse(`the root itself is a symlink (to "${member.linkname}")`);
      addSymlink(name as string);
    }
  };
}
