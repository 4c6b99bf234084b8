import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, isErrno, pathExists, type Digest, type Logger } from '../core/index.ts';
import { resolveDirInRoot, unpackLayers, type ImageRecord, type Store } from '../store/index.ts';

/** Kiln's node init, placed at /bin/walt-init of every tree it exports (kernel option init=/bin/walt-init). */
export const WALT_INIT = readFileSync(new URL('./node-init/walt-init.sh', import.meta.url));

/** Directories a node's init mounts over (walt-init puts its RAM overlay on /run): empty in the tree when the image lacks them. */
const MOUNT_POINTS: readonly string[] = ['proc', 'sys', 'dev', 'run', 'persist'];

/** Image trees unpacked once per image in use, shared by every node on that image. */
export interface NfsTrees {
  /** The host directory of the image's tree, unpacked on first use. */
  acquire(record: ImageRecord): Promise<string>;
  /** Trees of images not in `inUse` for `graceMs` are removed (returns their manifest digests in hex). */
  release(inUse: ReadonlySet<Digest>): Promise<string[]>;
}

/** Options of the tree cache: where trees go (a directory of the boot cache), the grace period, the clock. */
export interface NfsTreesOptions {
  dir: string;
  /** How long a tree no node uses is kept (WalT keeps images 60 s): a node rebooting onto it again finds it. */
  graceMs?: number;
  now?: () => number;
  logger?: Logger;
}

/**
 * Unpacks images with the store's extractor (whiteouts applied, everything resolved inside the
 * root) into `<dir>/<manifest>`, then adds Kiln's /bin/walt-init and the mount points: only the
 * cache copy gets them, the stored image never changes.
 */
export function createNfsTrees(store: Store, options: NfsTreesOptions): NfsTrees {
  const graceMs = options.graceMs ?? 60_000;
  const now = options.now ?? Date.now;
  const pending = new Map<string, Promise<string>>();
  const unusedSince = new Map<string, number>();

  const unpack = async (record: ImageRecord, hex: string): Promise<string> => {
    const root = join(options.dir, hex);
    if (await pathExists(root)) return root;
    await mkdir(options.dir, { recursive: true });
    const part = join(options.dir, `.${hex}.${process.pid}.part`);
    await rm(part, { recursive: true, force: true });
    await mkdir(part, { mode: 0o755 });
    try {
      const manifest = await store.readManifest(record.manifestDigest);
      await unpackLayers(part, manifest.layers, (layer) => store.openBlob(layer.digest, layer.size));
      for (const dir of MOUNT_POINTS) resolveDirInRoot(part, dir, true, 'image tree');
      // /bin may be a link to usr/bin (merged /usr): resolved inside the tree, never on the host.
      const bin = resolveDirInRoot(part, 'bin', true, 'image tree') as string;
      await rm(join(bin, 'walt-init'), { force: true });
      await writeFile(join(bin, 'walt-init'), WALT_INIT, { mode: 0o755 });
      await chmod(join(bin, 'walt-init'), 0o755);
      await rename(part, root);
    } catch (err) {
      await rm(part, { recursive: true, force: true });
      throw err;
    }
    options.logger?.info(`unpacked ${record.ref.user}/${record.ref.name}:${record.ref.tag} for NFS into ${root}`);
    return root;
  };

  return {
    acquire: (record) => {
      const hex = digestHex(record.manifestDigest);
      unusedSince.delete(hex);
      let tree = pending.get(hex);
      if (!tree) {
        tree = unpack(record, hex);
        // A failed unpack is tried again on the next pass.
        tree.catch(() => pending.delete(hex));
        pending.set(hex, tree);
      }
      return tree;
    },
    release: async (inUse) => {
      const used = new Set([...inUse].map(digestHex));
      let names: string[];
      try {
        names = await readdir(options.dir);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return [];
        throw err;
      }
      const removed: string[] = [];
      for (const hex of names.filter((n) => /^[a-f0-9]{64}$/u.test(n))) {
        if (used.has(hex)) {
          unusedSince.delete(hex);
          continue;
        }
        const since = unusedSince.get(hex);
        if (since === undefined) {
          unusedSince.set(hex, now());
          continue;
        }
        if (now() - since < graceMs) continue;
        pending.delete(hex);
        unusedSince.delete(hex);
        await rm(join(options.dir, hex), { recursive: true, force: true });
        removed.push(hex);
      }
      return removed;
    },
  };
}
