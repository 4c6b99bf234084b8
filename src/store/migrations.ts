import type { DatabaseSync } from 'node:sqlite';
import { KilnError, ErrorCode } from '../core/index.ts';

/**
 * The catalog's schema, as numbered steps: `MIGRATIONS[i]` takes a catalog from
 * version `i` to `i + 1`, and `PRAGMA user_version` records the version reached.
 * Version 0 is a catalog from before versions existed (or an empty file), so step 1
 * is that schema with `IF NOT EXISTS`: it creates it in an empty file and changes
 * nothing in an old catalog. Steps are only ever appended, never edited.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: images, which blobs each manifest needs, and pins of imports in progress.
  `CREATE TABLE IF NOT EXISTS images (
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
  CREATE INDEX IF NOT EXISTS pins_digest ON pins (digest);`,

  // 2: the nodes `kiln serve` boots, and the unknown clients it has seen.
  // A node's image is a name (`<user>/<name>:<tag>`), not a manifest digest, as in WalT:
  // a node boots the image's current content on its next reboot after the image is
  // rebuilt or cloned again, and "in use" follows the name a user sees and removes.
  `CREATE TABLE nodes (
    mac TEXT PRIMARY KEY NOT NULL,
    ip TEXT,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    image TEXT NOT NULL,
    owner TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    last_boot_request TEXT,
    last_boot_time TEXT
  );
  CREATE INDEX nodes_image ON nodes (image);
  CREATE TABLE devices (
    mac TEXT PRIMARY KEY NOT NULL,
    ip TEXT,
    vendor_class TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
  );`,

  // 3: the addresses `kiln serve`'s DHCP server bound, so that a restart keeps them.
  `CREATE TABLE dhcp_leases (
    mac TEXT PRIMARY KEY NOT NULL,
    ip TEXT NOT NULL UNIQUE,
    expires TEXT NOT NULL
  );`,
];

/** The schema version this code writes. */
export const CATALOG_VERSION = MIGRATIONS.length;

/** The catalog's schema version (`PRAGMA user_version`). */
export function catalogVersion(db: DatabaseSync): number {
  return Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
}

/**
 * Brings the catalog to {@link CATALOG_VERSION}; call inside a write transaction so that
 * two processes opening an old catalog at once upgrade it once. Returns the steps applied.
 */
export function migrate(db: DatabaseSync, path: string, steps: readonly string[] = MIGRATIONS): number {
  const from = catalogVersion(db);
  if (from > steps.length) {
    throw new KilnError(ErrorCode.UNSUPPORTED, `catalog ${path} has schema version ${from}; this kiln knows versions up to ${steps.length}`, {
      hint: 'a newer kiln wrote this store: upgrade kiln, or point KILN_HOME at another directory',
    });
  }
  for (let version = from; version < steps.length; version++) db.exec(steps[version]!);
  // PRAGMA takes no bound parameters; the value is an integer we computed.
  if (from < steps.length) db.exec(`PRAGMA user_version = ${steps.length}`);
  return steps.length - from;
}
