import { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../core/index.ts';
import type { ImageRef } from './reference.ts';
import { BUSY_TIMEOUT_MS, retryBusy, retryBusySync } from './busy.ts';
import { CATALOG_VERSION, catalogVersion, migrate } from './migrations.ts';
import type { Platform } from './oci.ts';
import type { NodeTable } from './nodes.ts';
import { createNodeTable, parseNodeImage } from './node-table.ts';

/** One image in the catalog. */
export interface ImageRecord {
  ref: ImageRef;
  manifestDigest: Digest;
  /** Creation time from the image config (ISO 8601), else when it entered the store. */
  created: string;
  /** Bytes on disk: manifest, config and layers as stored. */
  size: number;
  labels: Record<string, string>;
  platform: Platform;
  /** When the image entered the store (ISO 8601). */
  added: string;
}


interface ImageRow {
  owner: string;
  name: string;
  tag: string;
  manifest_digest: string;
  created: string;
  size: number;
  labels: string;
  platform: string;
  added: string;
}

function toRecord(row: ImageRow): ImageRecord {
  return {
    ref: { user: row.owner, name: row.name, tag: row.tag },
    manifestDigest: row.manifest_digest as Digest,
    created: row.created,
    size: row.size,
    labels: JSON.parse(row.labels) as Record<string, string>,
    platform: JSON.parse(row.platform) as Platform,
    added: row.added,
  };
}

/** The catalog: names, owners, labels, sizes and blob references, in SQLite. */
export interface Catalog {
  /** How many schema steps opening this catalog applied (0 when it was up to date). */
  readonly migrated: number;
  /** The schema version (`PRAGMA user_version`). */
  version(): number;
  /**
   * Runs `fn` inside one write transaction (BEGIN IMMEDIATE): writers across processes are
   * serialised. Waiting for the lock blocks the thread; async code uses {@link writeAsync}.
   */
  write<T>(fn: () => T): T;
  /** Like {@link write}, but waits for the lock on timers, so the event loop keeps turning. */
  writeAsync<T>(what: string, fn: () => T): Promise<T>;
  listImages(): ImageRecord[];
  findImage(ref: ImageRef): ImageRecord | undefined;
  putImage(record: ImageRecord, blobs: readonly Digest[]): void;
  deleteImage(ref: ImageRef): boolean;
  /** Drops blob references of manifests no image uses any more; returns those manifests' blobs. */
  pruneManifests(): Digest[];
  /** The images whose manifest needs a blob. */
  imagesUsing(digest: Digest): ImageRef[];
  /** Every blob digest some image needs (manifests, configs, layers). */
  referencedBlobs(): Set<Digest>;
  pin(digests: readonly Digest[], token: string): Promise<void>;
  unpin(token: string): Promise<void>;
  /** The images nodes boot (`nodes.image`), sorted; each at most once. */
  imagesInUse(): ImageRef[];
  /** The nodes `kiln serve` boots and the unknown devices it saw. */
  readonly nodes: NodeTable;
  /** Digests pinned by live processes; pins of dead processes are dropped. */
  pinnedBlobs(isAlive: (pid: number) => boolean): Set<Digest>;
  close(): void;
}

/** Opens (and creates, or upgrades to the current schema) the catalog database. */
export function openCatalog(path: string): Catalog {
  // A short busy timeout: SQLite sleeps on the calling thread while it waits (see busy.ts).
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  retryBusySync('opening the catalog', () => db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;'));
  let depth = 0;

  const transaction = <T>(fn: () => T): T => {
    depth++;
    try {
      const result = fn();
      db.exec('COMMIT');
      return result;
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    } finally {
      depth--;
    }
  };

  const write = <T>(fn: () => T): T => {
    if (depth > 0) return fn();
    retryBusySync('waiting to write the catalog', () => db.exec('BEGIN IMMEDIATE'));
    return transaction(fn);
  };

  const writeAsync = async <T>(what: string, fn: () => T): Promise<T> => {
    if (depth > 0) return fn();
    // BEGIN and `fn` run in one synchronous stretch: no other caller of this process can
    // start a transaction on the connection in between.
    return retryBusy(what, () => {
      db.exec('BEGIN IMMEDIATE');
      return transaction(fn);
    });
  };

  const read = <T>(fn: () => T): T => retryBusySync('reading the catalog', fn);

  // Only a catalog behind the current version takes the write lock to upgrade.
  // (a newer catalog is refused inside `migrate`).
  const migrated = read(() => catalogVersion(db)) === CATALOG_VERSION ? 0 : write(() => migrate(db, path));

  return {
    migrated,
    nodes: createNodeTable(db, { read, writeAsync }),
    version: () => read(() => catalogVersion(db)),
    write,
    writeAsync,
    listImages: () =>
      read(() => db.prepare('SELECT * FROM images ORDER BY owner, name, tag').all() as unknown as ImageRow[]).map(toRecord),
    findImage: (ref) => {
      const row = read(() => db.prepare('SELECT * FROM images WHERE owner = ? AND name = ? AND tag = ?').get(ref.user, ref.name, ref.tag)) as ImageRow | undefined;
      return row ? toRecord(row) : undefined;
    },
    putImage: (record, blobs) => {
      const insertBlob = db.prepare('INSERT OR IGNORE INTO manifest_blobs (manifest_digest, blob_digest) VALUES (?, ?)');
      for (const blob of blobs) insertBlob.run(record.manifestDigest, blob);
      db.prepare(
        `INSERT OR REPLACE INTO images (owner, name, tag, manifest_digest, created, size, labels, platform, added)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        record.ref.user, record.ref.name, record.ref.tag, record.manifestDigest, record.created, record.size,
        JSON.stringify(record.labels), JSON.stringify(record.platform), record.added,
      );
    },
    deleteImage: (ref) =>
      Number(db.prepare('DELETE FROM images WHERE owner = ? AND name = ? AND tag = ?').run(ref.user, ref.name, ref.tag).changes) > 0,
    pruneManifests: () => {
      const orphan = 'manifest_digest NOT IN (SELECT manifest_digest FROM images)';
      const rows = db.prepare(`SELECT DISTINCT blob_digest FROM manifest_blobs WHERE ${orphan}`).all() as Array<{ blob_digest: string }>;
      db.prepare(`DELETE FROM manifest_blobs WHERE ${orphan}`).run();
      return rows.map((r) => r.blob_digest as Digest);
    },
    imagesUsing: (digest) =>
      (read(() => db
        .prepare('SELECT owner, name, tag FROM images WHERE manifest_digest IN (SELECT manifest_digest FROM manifest_blobs WHERE blob_digest = ?) ORDER BY owner, name, tag')
        .all(digest)) as Array<{ owner: string; name: string; tag: string }>).map((r) => ({ user: r.owner, name: r.name, tag: r.tag })),
    referencedBlobs: () => {
      const rows = read(() => db
        .prepare('SELECT DISTINCT blob_digest FROM manifest_blobs WHERE manifest_digest IN (SELECT manifest_digest FROM images)')
        .all()) as Array<{ blob_digest: string }>;
      return new Set(rows.map((r) => r.blob_digest as Digest));
    },
    pin: async (digests, token) => {
      await writeAsync('pinning blobs', () => {
        const insert = db.prepare('INSERT INTO pins (digest, pid, token, since) VALUES (?, ?, ?, ?)');
        for (const d of digests) insert.run(d, process.pid, token, Date.now());
      });
    },
    unpin: async (token) => {
      await writeAsync('unpinning blobs', () => db.prepare('DELETE FROM pins WHERE token = ?').run(token));
    },
    imagesInUse: () =>
      (read(() => db.prepare('SELECT DISTINCT image FROM nodes ORDER BY image').all()) as Array<{ image: string }>)
        .map((r) => parseNodeImage(r.image)),
    pinnedBlobs: (isAlive) => {
      const rows = db.prepare('SELECT digest, pid FROM pins').all() as Array<{ digest: string; pid: number }>;
      const dead = new Set<number>();
      const live = new Set<Digest>();
      for (const row of rows) {
        if (isAlive(row.pid)) live.add(row.digest as Digest);
        else dead.add(row.pid);
      }
      const drop = db.prepare('DELETE FROM pins WHERE pid = ?');
      for (const pid of dead) drop.run(pid);
      return live;
    },
    close: () => db.close(),
  };
}
