import { mkdir, readdir, readFile, readlink, rm, symlink, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError, ErrorCode, isErrno, run, writeFileAtomic } from '../core/index.ts';
import { createGaneshaExportIds, nodeExportPaths, renderGaneshaConfig, renderKernelExports, WALT_NODES_DIR, type GaneshaListen, type NfsNodeExport } from './nfs-exports.ts';
import { listMountExports } from './nfs-mount-rpc.ts';

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
  /**
   * The paths ganesha exports right now: a reload is over when they are the ones written.
   * Default: the MOUNT protocol's EXPORT call (`showmount -e`) on listen.address:listen.mountPort.
   */
  listExports?: () => Promise<readonly string[]>;
  /** How long ganesha is given to show a reload (default 30 s): past it, apply() fails and the next pass tries again. */
  reloadTimeoutMs?: number;
  /** How often its export list is read while a reload is under way (default 100 ms). */
  pollMs?: number;
}

/** The pseudo paths an export set shows in ganesha's export list. */
function exportedPaths(exports: readonly NfsNodeExport[]): string[] {
  return exports.flatMap((e) => { const p = nodeExportPaths(e.mac); return [p.fs, p.persist]; }).sort();
}

/**
 * nfs-ganesha (userspace, VFS FSAL): the exports are its configuration file, reloaded on SIGHUP.
 * Ganesha reloads on its own thread and says nothing when done, and two SIGHUPs sent close
 * together may be merged into one: after each signal, its export list is read until it shows
 * exactly the set written (bounded by reloadTimeoutMs), never a fixed pause.
 */
export function createGaneshaNfsBackend(options: GaneshaNfsOptions): NfsBackend {
  const ids = createGaneshaExportIds();
  const listExports = options.listExports ?? (() => listMountExports(options.listen.address, options.listen.mountPort));
  const timeoutMs = options.reloadTimeoutMs ?? 30_000;
  let previous: readonly NfsNodeExport[] = [];
  /** Writes the configuration and signals ganesha; false when it is not running (it reads the file when it starts). */
  const signalReload = async (exports: readonly NfsNodeExport[]): Promise<boolean> => {
    await writeFileAtomic(options.configPath, renderGaneshaConfig(exports, options.listen, ids));
    let pid: number;
    try {
      pid = Number((await readFile(options.pidFile, 'utf8')).trim());
    } catch (err) {
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
  /** Waits until ganesha exports exactly `exports`. */
  const untilExported = async (exports: readonly NfsNodeExport[]): Promise<void> => {
    const want = exportedPaths(exports);
    const deadline = Date.now() + timeoutMs;
    let seen = 'nothing read yet';
    for (;;) {
      try {
        const shown = [...(await listExports())].sort();
        if (shown.length === want.length && shown.every((p, i) => p === want[i])) return;
        const missing = want.filter((p) => !shown.includes(p));
        const extra = shown.filter((p) => !want.includes(p));
        seen = `missing ${missing.join(', ') || 'none'}; still exported ${extra.join(', ') || 'none'}`;
      } catch (err) {
        seen = (err as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new KilnError(ErrorCode.TOOL_FAILED, `ganesha.nfsd did not show its reloaded exports within ${timeoutMs / 1000} s (${seen})`, {
          hint: `see ganesha's log for the exports it refused; ${options.configPath} holds the configuration it was asked to load`,
        });
      }
      await sleep(options.pollMs ?? 100);
    }
  };
  const reload = async (exports: readonly NfsNodeExport[]): Promise<void> => {
    if (await signalReload(exports)) await untilExported(exports);
  };
  return {
    kind: 'ganesha',
    apply: async (exports) => {
      // Ganesha adds new exports before it removes old ones, so a node moved to another tree
      // (same pseudo path, new path) would be a duplicate: drop the moved ones first, and wait
      // until they are gone before adding them back.
      const before = new Map(previous.map((e) => [e.mac, e]));
      const moved = new Set(exports.filter((e) => { const b = before.get(e.mac); return b !== undefined && (b.tree !== e.tree || b.persist !== e.persist); }).map((e) => e.mac));
      if (moved.size > 0) await reload(exports.filter((e) => !moved.has(e.mac)));
      await reload(exports);
      // Only once it shows: a failed apply is redone whole (moved nodes included) by the next one.
      previous = exports;
    },
  };
}
