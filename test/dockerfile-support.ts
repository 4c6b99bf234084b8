import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, type Result } from './helpers.ts';

/** Every entry of a root, sorted: path, mode, owner, then the link target or the content hash. */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = lstatSync(join(root, path));
      const what = info.isSymbolicLink() ? `-> ${readlinkSync(join(root, path))}` : info.isFile() ? createHash('sha256').update(readFileSync(join(root, path))).digest('hex') : '';
      out.push(`${path} ${info.mode.toString(8)} ${info.uid}:${info.gid} ${what}`);
      if (info.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

/** A root with the host's static busybox (these applets) and the users root and node (1000) in passwd and group; returns the directory. */
export function busyboxUsersRoot(dir: string, applets: readonly string[], name = 'base'): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  return root;
}

/** Exports an image's root filesystem with `kiln image export --format rootfs` and unpacks it (owners, xattrs) in a new directory under `dir`; returns that directory. */
export async function exportedRoot(kiln: (args: readonly string[]) => Promise<Result>, dir: string, name: string): Promise<string> {
  const root = mkdtempSync(join(dir, 'exported-root-'));
  const tar = `${root}.tar`;
  const r = await kiln(['image', 'export', name, tar, '--format', 'rootfs']);
  if (r.code !== 0) throw new Error(`kiln image export ${name} failed (exit ${r.code}): ${r.stderr}`);
  sh('tar', ['-xpf', tar, '-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
  return root;
}

/** buildah with a private vfs storage under `dir`, its RUN steps in a chroot. */
export interface PrivateBuildah {
  /** Runs buildah with these arguments; returns its stdout. */
  run: (args: readonly string[]) => string;
  /** Copies an image from a Kiln store's OCI layout (`<user>/<name>:<tag>`) into this storage as `as`. */
  importFromKiln: (home: string, ref: string, as: string) => void;
  /** Builds `ctx` with `buildah bud --layers` into `tag`. */
  bud: (ctx: string, tag: string, extra?: readonly string[]) => void;
  /** The image's tree (as {@link listTree} lists it, without the paths `runtime` matches) and its OCI config. */
  inspect: (image: string, runtime: RegExp) => { tree: string[]; config: Record<string, unknown> };
}

/** Makes a {@link PrivateBuildah} storing under `dir`/br. */
export function privateBuildah(dir: string): PrivateBuildah {
  const root = join(dir, 'br', 'root');
  const runroot = join(dir, 'br', 'run');
  const run = (args: readonly string[]): string => sh('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args]);
  return {
    run,
    importFromKiln: (home, ref, as) => void sh('skopeo', ['copy', '-q', `oci:${join(home, 'store')}:${ref}`, `containers-storage:[vfs@${root}+${runroot}]${as}`]),
    bud: (ctx, tag, extra = []) => void run(['bud', '-q', '--pull=never', '--isolation', 'chroot', '--layers', ...extra, '-t', tag, ctx]),
    inspect: (image, runtime) => {
      const ctr = run(['from', '--pull=never', image]).trim();
      try {
        const tree = listTree(run(['mount', ctr]).trim()).filter((l) => !runtime.test(l));
        const config = (JSON.parse(run(['inspect', '--type', 'image', image])) as { OCIv1: { config: Record<string, unknown> } }).OCIv1.config;
        return { tree, config };
      } finally {
        run(['rm', ctr]);
      }
    },
  };
}
