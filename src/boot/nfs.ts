import { mkdir, readdir, readFile, readlink, rm, symlink, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError, ErrorCode, isErrno, run, writeFileAtomic } from '../core/index.ts';
import { createGaneshaExportIds, renderGaneshaConfig, renderKernelExports, WALT_NODES_DIR, type GaneshaListen, type NfsNodeExport } from './nfs-exports.ts';

/** An NFS server Kiln drives: it is told the whole set of node exports each time it changes. */
export interface NfsBackend {
  readonly kind: 'kernel' | 'ganesha';
  /** Makes exactly these exports visible (nodes gone are unexported, a node on a new image gets its new tree). */
  apply(exports: readonly NfsNodeExport[]): Promise<void>;
}

/** Options of the kernel server's backend (production: exports(5) + `exportfs -r`). */
export interface KernelNfsOptions {
  /** The node subnet allowed to mount (server.subnet). */
  clients: string;
  /** Default /etc/exports.d/kiln.exports. */
  exportsFile?: string;
  /** Default /var/lib/walt/nodes: must be the path nodes mount, the symlinks are resolved by mountd. */
  nodesDir?: string;
}

async function replaceSymlink(target: string, path: string): Promise<void> {
  try {
    if ((await readlink(path)) === target) return;
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EINVAL')) throw err;
  }
  const part = `${path}.${process.pid}.part`;
  await rm(part, { force: true });
  await symlink(target, part);
  await rename(part, path);
}

/**
 * The kernel NFS server, WalT's way: `<nodesDir>/<mac>/fs` and `.../persist` are symlinks to
 * the image tree and the node's persist directory; the exports file lists the trees (read-only,
 * one fsid each) and persist directories (read-write); `exportfs -r` applies it.
 */
export function createKernelNfsBackend(options: KernelNfsOptions): NfsBackend {
  const exportsFile = options.exportsFile ?? '/etc/exports.d/kiln.exports';
  const nodesDir = options.nodesDir ?? WALT_NODES_DIR;
  return {
    kind: 'kernel',
    apply: async (exports) => {
      await mkdir(nodesDir, { recursive: true });
      const macs = new Set(exports.map((e) => e.mac));
      for (const node of exports) {
        await mkdir(join(nodesDir, node.mac), { recursive: true });
        await replaceSymlink(node.tree, join(nodesDir, node.mac, 'fs'));
        await replaceSymlink(node.persist, join(nodesDir, node.mac, 'persist'));
      }
      // Nodes no longer in the catalog lose their links (only MAC-named entries: anything else is not ours).
      for (const name of await readdir(nodesDir)) {
        if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/u.test(name) && !macs.has(name)) await rm(join(nodesDir, name), { recursive: true, force: true });
      }
      await mkdir(dirname(exportsFile), { recursive: true });
      await writeFileAtomic(exportsFile, renderKernelExports(exports, options.clients, nodesDir));
      await run('exportfs', ['-r', '-f']);
    },
  };
}

/** Options of the nfs-ganesha backend (tests, and hosts without the kernel server). */
export interface GaneshaNfsOptions {
  /** The configuration file ganesha.nfsd runs with (-f). */
  configPath: string;
  listen: GaneshaListen;
  /** ganesha.nfsd's pid file (-p): applying a change sends it SIGHUP, which reloads the exports. */
  pidFile: string;
}

/** nfs-ganesha (userspace, VFS FSAL): the exports are its configuration file, reloaded on SIGHUP. */
export function createGaneshaNfsBackend(options: GaneshaNfsOptions): NfsBackend {
  const ids = createGaneshaExportIds();
  let previous: readonly NfsNodeExport[] = [];
  const reload = async (exports: readonly NfsNodeExport[]): Promise<boolean> => {
    await writeFileAtomic(options.configPath, renderGaneshaConfig(exports, options.listen, ids));
    let pid: number;
    try {
      pid = Number((await readFile(options.pidFile, 'utf8')).trim());
    } catch (err) {
      // Not running yet: it reads the file when it starts.
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      if (isErrno(err, 'ESRCH')) return false;
      throw new KilnError(ErrorCode.IO, `cannot signal ganesha.nfsd (pid ${pid}) to reload its exports`, { hint: 'run kiln serve as the user that runs ganesha.nfsd', cause: err });
    }
    return true;
  };
  return {
    kind: 'ganesha',
    apply: async (exports) => {
      // Ganesha adds new exports before it removes old ones, so a node moved to another tree
      // (same pseudo path, new path) would be a duplicate: drop the moved ones first.
      const before = new Map(previous.map((e) => [e.mac, e]));
      const moved = new Set(exports.filter((e) => { const b = before.get(e.mac); return b !== undefined && (b.tree !== e.tree || b.persist !== e.persist); }).map((e) => e.mac));
      previous = exports;
      if (moved.size > 0 && (await reload(exports.filter((e) => !moved.has(e.mac))))) await sleep(RELOAD_SETTLE_MS);
      await reload(exports);
    },
  };
}

/** How long a first reload (removals) is given before the second (additions): ganesha reloads on its own thread. */
const RELOAD_SETTLE_MS = 1000;
