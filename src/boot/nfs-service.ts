import { mkdir } from 'node:fs/promises';
import { formatImageRef, type ImageRecord, type ImageRef, type NodeRecord } from '../store/index.ts';
import type { Digest, Logger } from '../core/index.ts';
import { sameExports, type NfsNodeExport } from './nfs-exports.ts';
import type { NfsBackend } from './nfs.ts';
import type { NfsTrees } from './nfs-trees.ts';

/** What the NFS service reads on every pass: the catalog's nodes and images. */
export interface NfsServiceOptions {
  backend: NfsBackend;
  trees: NfsTrees;
  nodes: () => readonly NodeRecord[];
  findImage: (ref: ImageRef) => ImageRecord | undefined;
  /** A node's persist directory (by MAC), under the store's node state. */
  persistDir: (mac: string) => string;
  logger: Logger;
  /** How often the catalog is read for node and image changes (default 2 s). */
  intervalMs?: number;
}

/** Keeps the NFS exports equal to what the catalog says: one pass now, then one per interval until stopped. */
export interface NfsService {
  /** One pass: unpacks newly used images, applies a changed export set, releases unused trees; returns the set. */
  refresh(): Promise<readonly NfsNodeExport[]>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Like the HTTP and TFTP resolvers, the NFS side follows the catalog without a restart: a
 * `kiln node boot` or `kiln node register` made by another process shows within one interval.
 * A node whose image is missing or fails to unpack keeps no export (logged), the others go on.
 */
export function createNfsService(options: NfsServiceOptions): NfsService {
  const { backend, trees, logger } = options;
  let applied: readonly NfsNodeExport[] | undefined;
  const failed = new Set<string>();
  const refresh = async (): Promise<readonly NfsNodeExport[]> => {
    const next: NfsNodeExport[] = [];
    const inUse = new Set<Digest>();
    for (const node of options.nodes()) {
      const record = options.findImage(node.image);
      const key = `${node.mac} ${formatImageRef(node.image)} ${record?.manifestDigest ?? ''}`;
      if (!record) {
        if (!failed.has(key)) logger.warn(`nfs: node ${node.name} boots ${formatImageRef(node.image)}, which is not in the store: not exported`);
        failed.add(key);
        continue;
      }
      inUse.add(record.manifestDigest);
      try {
        const tree = await trees.acquire(record);
        const persist = options.persistDir(node.mac);
        await mkdir(persist, { recursive: true, mode: 0o755 });
        next.push({ mac: node.mac, tree, persist });
        failed.delete(key);
      } catch (err) {
        if (!failed.has(key)) logger.warn(`nfs: cannot export ${formatImageRef(node.image)} for node ${node.name}: ${(err as Error).message}`);
        failed.add(key);
      }
    }
    if (applied === undefined || !sameExports(applied, next)) {
      await backend.apply(next);
      applied = next;
      logger.info(`nfs: ${next.length} node(s) exported (${backend.kind})`);
    }
    await trees.release(inUse);
    return next;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = (): void => {
    running = refresh().catch((err: unknown) => logger.warn(`nfs: ${(err as Error).message}`)).finally(() => {
      if (!stopped) timer = setTimeout(tick, options.intervalMs ?? 2000);
    });
  };
  return {
    refresh,
    start: () => {
      stopped = false;
      tick();
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
