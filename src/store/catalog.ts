import { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../core/index.ts';
import type { ImageRef } from './reference.ts';
import type { Platform } from './oci.ts';

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  tag TEXT NOT NULL,
  manifest_digest TEXT NOT NULL,
  created TEXT NOT NULL,
  size INTEGER NOT NULL,
  labels TEXT NOT NULL,
  platform TEXT NOT NULL,
  added TEXT NOT NULL,
  PRIMARY KEY (owner, name, tag)
);
CREATE INDEX IF NOT EXISTS images_manifest ON images (manifest_digest);
CREATE TABLE IF NOT EXISTS manifest_blobs (
  manifest_digest TEXT NOT NULL,
  blob_digest TEXT NOT NULL,
  PRIMARY KEY (manifest_digest, blob_digest)
);
CREATE INDEX IF NOT EXISTS manifest_blobs_blob ON manifest_blobs (blob_digest);
CREATE TABLE IF NOT EXISTS pins (
  digest TEXT NOT NULL,
  pid INTEGER NOT NULL,
  token TEXT NOT NULL,
  since INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pins_digest ON pins (digest);
`;

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
  /** Runs `fn` inside one write transaction (BEGIN IMMEDIATE): writers across processes are serialised. */
  write<T>(fn: () => T): T;
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
  pin(digests: readonly Digest[], token: string): void;
  unpin(token: string): void;
  /** Digests pinned by live processes; pins of dead processes are dropped. */
  pinnedBlobs(isAlive: (pid: number) => boolean): Set<Digest>;
  close(): void;
}

/** Opens (and creates) the catalog database. */
export function openCatalog(path: string): Catalog {
  const db = new DatabaseSync(path, { timeout: 60_000 });
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
  db.exec(SCHEMA);
  let depth = 0;

  const write = <T>(fn: () => T): T => {
    if (depth > 0) return fn();
    db.exec('BEGIN IMMEDIATE');
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

  return {
    write,
    listImages: () =>
      (db.prepare('SELECT * FROM images ORDER BY owner, name, tag').all() as unknown as ImageRow[]).map(toRecord),
    findImage: (ref) => {
      const row = db.prepare('SELECT * FROM images WHERE owner = ? AND name = ? AND tag = ?').get(ref.user, ref.name, ref.tag) as ImageRow | undefined;
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
      (db
        .prepare('SELECT owner, name, tag FROM images WHERE manifest_digest IN (SELECT manifest_digest FROM manifest_blobs WHERE blob_digest = ?) ORDER BY owner, name, tag')
        .all(digest) as Array<{ owner: string; name: string; tag: string }>).map((r) => ({ user: r.owner, name: r.name, tag: r.tag })),
    referencedBlobs: () => {
      const rows = db
        .prepare('SELECT DISTINCT blob_digest FROM manifest_blobs WHERE manifest_digest IN (SELECT manifest_digest FROM images)')
        .all() as Array<{ blob_digest: string }>;
      return new Set(rows.map((r) => r.blob_digest as Digest));
    },
    pin: (digests, token) => {
      write(() => {
        const insert = db.prepare('INSERT INTO pins (digest, pid, token, since) VALUES (?, ?, ?, ?)');
        for (const d of digests) insert.run(d, process.pid, token, Date.now());
      });
    },
    unpin: (token) => {
      write(() => db.prepare('DELETE FROM pins WHERE token = ?').run(token));
    },
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
