import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, isKilnError } from '../core/index.ts';
import { runOnHost, type SandboxResult } from './host-run.ts';

/** An overlay mount: read-only lower directories (top first), a fresh upper directory, the merged root. */
export interface OverlayRoot {
  upper: string;
  merged: string;
  unmount(): Promise<void>;
}

/** Mounts `lowers` (top first) with a new upper directory under `work`; unmount in a finally. */
export async function mountOverlay(lowers: readonly string[], work: string): Promise<OverlayRoot> {
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
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/**
 * Runs `argv` with `root` as / inside bubblewrap: /proc, a fresh /dev, a private /tmp,
 * the host's /etc/resolv.conf and the host's network; new PID, IPC and UTS namespaces.
 */
export async function runInRoot(root: string, argv: readonly string[], options: SandboxOptions = {}): Promise<SandboxResult> {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', ...options.env };
  const args = [
    '--bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp',
    '--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf',
    ...(options.binds ?? []).flatMap(([host, inside]) => ['--ro-bind', host, inside]),
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session', '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--', ...argv,
  ];
  return runOnHost('bwrap', args, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
}
