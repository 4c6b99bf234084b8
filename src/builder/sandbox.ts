import { lstat, mkdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, isErrno, isKilnError, pathExists, resolveInRoot, KilnError, ErrorCode, toolMissing } from '../core/index.ts';
import { runOnHost, type SandboxResult } from './host-run.ts';

/** An overlay mount: read-only lower directories (top first), a fresh upper directory, the merged root. */
export interface OverlayRoot {
  upper: string;
  merged: string;
  unmount(): Promise<void>;
}

/** Mounts `lowers` (top first) with a new upper directory under `work`; unmount in a finally. */
export async function mountOverlay(lowers: readonly string[], work: string): Promise<OverlayRoot> {
  // overlayfs needs a lower directory: an image without layers gets an empty one.
  if (lowers.length === 0) {
    const empty = join(work, 'empty-lower');
    await mkdir(empty, { recursive: true });
    lowers = [empty];
  }
  const upper = join(work, 'upper');
  const ovlWork = join(work, 'ovl-work');
  const merged = join(work, 'merged');
  for (const d of [upper, ovlWork, merged]) await mkdir(d, { recursive: true });
  // Plain overlay semantics: no redirect or metacopy xattrs, so the upper directory is a self-contained diff.
  const options = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${ovlWork},redirect_dir=off,metacopy=off,index=off`;
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]);
  let mounted = true;
  return {
    upper,
    merged,
    unmount: async () => {
      if (!mounted) return;
      await run('umount', [merged]).catch(async (err: unknown) => {
        if (!isKilnError(err)) throw err;
        await run('umount', ['-l', merged]);
      });
      mounted = false;
    },
  };
}

export type { SandboxResult } from './host-run.ts';

/** Options of {@link runInRoot}. */
export interface SandboxOptions {
  /** Host paths bound read-only inside the sandbox: [host, path in the sandbox]. */
  binds?: ReadonlyArray<readonly [string, string]>;
  env?: Record<string, string>;
  /** The working directory of the command inside the root (default /). */
  chdir?: string;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** The file systems bubblewrap mounts fresh in the sandbox, in order: nothing of the image shows below them. */
const FRESH_MOUNTS = [['--proc', '/proc'], ['--dev', '/dev'], ['--perms', '1777', '--tmpfs', '/tmp']] as const;

/** Where the sandbox's mounts go, every destination resolved inside the root, and the mount points bwrap will create there. */
export interface PlacedMounts {
  args: string[];
  /** Paths (relative to the root, parents first) that do not exist yet and are created as mount points of binds. */
  created: string[];
}

function refuseRoot(dest: string): never {
  throw new KilnError(ErrorCode.UNSAFE_PATH, `the image's ${dest} is a symlink to its root directory; Kiln cannot mount anything there`, {
    hint: `replace ${dest} in the parent image with a real file or directory`,
  });
}

/**
 * Resolves every mount destination inside `root` (see resolveInRoot): bubblewrap follows
 * symlinks of the new root when it creates and mounts its destinations, with the host's
 * root still reachable, so a parent image with `etc -> /oldroot/home` would otherwise make
 * it create files on the host. A destination reached through a symlink is mounted where the
 * link leads inside the image, which is the file the step's programs see at that path
 * (an /etc/resolv.conf linked to /run/systemd/resolve/stub-resolv.conf keeps working).
 */
export async function placeMounts(root: string, binds: ReadonlyArray<readonly [string, string]>): Promise<PlacedMounts> {
  const args: string[] = [];
  const fresh: Array<[string, string]> = [];
  const created: string[] = [];
  for (const mount of FRESH_MOUNTS) {
    const dest = mount.at(-1) as string;
    const at = await resolveInRoot(root, dest);
    if (at.rel === '') refuseRoot(dest);
    // A mount point bwrap creates (a root without /tmp) is not part of the image.
    if (!at.exists && !at.rel.includes('/')) created.push(at.rel);
    fresh.push([dest, at.rel]);
    args.push(...mount.slice(0, -1), `/${at.rel}`);
  }
  for (const [host, inside] of [['/etc/resolv.conf', '/etc/resolv.conf'] as const, ...binds]) {
    const under = fresh.find(([dest]) => inside.startsWith(`${dest}/`));
    let rel: string;
    if (under) {
      // On a file system bubblewrap just mounted: the image's files there are hidden.
      rel = `${under[1]}/${inside.slice(under[0].length + 1)}`;
    } else {
      const at = await resolveInRoot(root, inside);
      if (at.rel === '') refuseRoot(inside);
      rel = at.rel;
      const names = rel.split('/');
      for (let i = 1; i <= names.length; i++) {
        const prefix = names.slice(0, i).join('/');
        if (!created.includes(prefix) && !(await pathExists(join(root, prefix)))) created.push(prefix);
      }
    }
    args.push('--ro-bind', host, `/${rel}`);
  }
  return { args, created };
}

/** Removes the mount points bwrap created for binds (empty files and directories), deepest first, when they are still what it made. */
export async function removeMountPoints(root: string, created: readonly string[]): Promise<void> {
  for (const rel of [...created].reverse()) {
    const at = await resolveInRoot(root, rel, { followLast: false });
    if (at.links > 0 || !at.exists) continue;
    const info = await lstat(at.host);
    if (info.isFile() && info.size === 0) await rm(at.host);
    else if (info.isDirectory()) {
      await rmdir(at.host).catch((err: unknown) => {
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      });
    }
  }
}

/**
 * Runs `argv` with `root` as / inside bubblewrap: /proc, a fresh /dev, a private /tmp,
 * the host's /etc/resolv.conf and the host's network; new PID, IPC and UTS namespaces.
 * Mount points are resolved inside `root` (see placeMounts), and those created for binds
 * are removed afterwards: they are not part of the image.
 */
export async function runInRoot(root: string, argv: readonly string[], options: SandboxOptions = {}): Promise<SandboxResult> {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', ...options.env };
  const mounts = await placeMounts(root, options.binds ?? []);
  const args = [
    '--bind', root, '/', ...mounts.args,
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session', '--clearenv',
    ...(options.chdir !== undefined ? ['--chdir', options.chdir] : []),
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--', ...argv,
  ];
  try {
    return await runOnHost('bwrap', args, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
  } finally {
    await removeMountPoints(root, mounts.created);
  }
}

/** Options of {@link runConfinedOnHost}. */
export interface ConfinedOptions {
  /** The only host paths the tool may write: the image root it works on, its own work directory. */
  writable: readonly string[];
  env: Record<string, string>;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/**
 * Runs a host tool that works on an image root from outside (dnf --installroot, zypper
 * --root) inside bubblewrap with the host read-only and only `writable` writable: a symlink
 * of the image that leads out of its root then ends on a read-only host path (the tool
 * fails) instead of a host file. /dev and /proc are fresh, /tmp is the host's, read-only (give
 * the tool a TMPDIR among `writable`); the network is the host's.
 */
export async function runConfinedOnHost(tool: string, args: readonly string[], options: ConfinedOptions): Promise<SandboxResult> {
  const path = options.env.PATH ?? process.env.PATH ?? '';
  if (!(await Promise.all(path.split(':').filter(Boolean).map((dir) => pathExists(join(dir, tool))))).some(Boolean)) {
    throw toolMissing(tool);
  }
  const bwrapArgs = [
    '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
    ...options.writable.flatMap((dir) => ['--bind', dir, dir]),
    '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--new-session', '--clearenv',
    ...Object.entries(options.env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--', tool, ...args,
  ];
  return runOnHost('bwrap', bwrapArgs, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
}
