import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isKilnError } from '../core/index.ts';
import { openCatalog } from './catalog.ts';
import { CATALOG_VERSION, MIGRATIONS } from './migrations.ts';
import { openStore } from './store.ts';

/**
 * Writes a catalog as Kiln wrote it before schema versions existed: the unversioned
 * schema (WAL, no user_version) and one image with its blobs and a pin of a dead process.
 */
function writeUnversionedCatalog(path: string): void {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL;');
  db.exec(`
CREATE TABLE IF NOT EXISTS images (
  owner TEXT NOT NULL, name TEXT NOT NULL, tag TEXT NOT NULL, manifest_digest TEXT NOT NULL,
  created TEXT NOT NULL, size INTEGER NOT NULL, labels TEXT NOT NULL, platform TEXT NOT NULL, added TEXT NOT NULL,
  PRIMARY KEY (owner, name, tag)
);
CREATE INDEX IF NOT EXISTS images_manifest ON images (manifest_digest);
CREATE TABLE IF NOT EXISTS manifest_blobs (
  manifest_digest TEXT NOT NULL, blob_digest TEXT NOT NULL, PRIMARY KEY (manifest_digest, blob_digest)
);
CREATE INDEX IF NOT EXISTS manifest_blobs_blob ON manifest_blobs (blob_digest);
CREATE TABLE IF NOT EXISTS pins (digest TEXT NOT NULL, pid INTEGER NOT NULL, token TEXT NOT NULL, since INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pins_digest ON pins (digest);`);
  db.prepare('INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    'alice', 'pc', 'latest', `sha256:${'1'.repeat(64)}`, '2024-01-01T00:00:00Z', 1234,
    JSON.stringify({ 'walt.node.models': 'pc-x86-64' }), JSON.stringify({ os: 'linux', architecture: 'amd64' }), '2024-01-02T00:00:00Z',
  );
  for (const blob of ['1', '2', '3']) db.prepare('INSERT INTO manifest_blobs VALUES (?, ?)').run(`sha256:${'1'.repeat(64)}`, `sha256:${blob.repeat(64)}`);
  db.prepare('INSERT INTO pins VALUES (?, ?, ?, ?)').run(`sha256:${'4'.repeat(64)}`, 2147483646, 'dead', 1);
  db.close();
}

function userVersion(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  } finally {
    db.close();
  }
}

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-migrate-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a catalog written before schema versions opens, upgrades to the latest version with its data intact, and a second open changes nothing', withDir((home) => {
  const path = join(home, 'kiln.db');
  writeUnversionedCatalog(path);
  assert.equal(userVersion(path), 0);

  const store = openStore({ home });
  try {
    assert.equal(userVersion(path), CATALOG_VERSION);
    const [image, ...others] = store.listImages();
    assert.deepEqual(others, []);
    assert.deepEqual(image?.ref, { user: 'alice', name: 'pc', tag: 'latest' });
    assert.equal(image?.size, 1234);
    assert.deepEqual(image?.labels, { 'walt.node.models': 'pc-x86-64' });
    assert.deepEqual(store.imagesInUse(), [], 'the new nodes table is there, and empty');
  } finally {
    store.close();
  }

  const again = openCatalog(path);
  try {
    assert.equal(again.migrated, 0, 'an up-to-date catalog is opened without a schema step');
    assert.equal(again.version(), CATALOG_VERSION);
    assert.deepEqual([...again.referencedBlobs()].sort(), ['1', '2', '3'].map((b) => `sha256:${b.repeat(64)}`));
  } finally {
    again.close();
  }
}));

test('a new catalog starts at the latest version; each version up to it upgrades in one open', withDir((dir) => {
  const fresh = openCatalog(join(dir, 'fresh.db'));
  assert.equal(fresh.migrated, CATALOG_VERSION);
  assert.equal(fresh.version(), CATALOG_VERSION);
  fresh.close();
  for (let version = 1; version < CATALOG_VERSION; version++) {
    const path = join(dir, `v${version}.db`);
    const db = new DatabaseSync(path);
    for (const step of MIGRATIONS.slice(0, version)) db.exec(step);
    db.exec(`PRAGMA user_version = ${version}`);
    db.close();
    const catalog = openCatalog(path);
    assert.equal(catalog.migrated, CATALOG_VERSION - version, `from version ${version}`);
    catalog.close();
    assert.equal(userVersion(path), CATALOG_VERSION);
  }
}));

test('a catalog from a newer kiln is refused with UNSUPPORTED and left as it was', withDir((dir) => {
  const path = join(dir, 'kiln.db');
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${CATALOG_VERSION + 1}`);
  db.close();
  assert.throws(() => openCatalog(path), (err: unknown) => isKilnError(err) && err.code === 'UNSUPPORTED' && /newer kiln/u.test(err.hint ?? ''));
  assert.equal(userVersion(path), CATALOG_VERSION + 1);
}));

test('images that nodes boot are reported in use, each once', withDir((home) => {
  const store = openStore({ home });
  try {
    const db = new DatabaseSync(join(home, 'kiln.db'));
    const insert = db.prepare('INSERT INTO nodes (mac, ip, name, model, image, owner) VALUES (?, ?, ?, ?, ?, ?)');
    insert.run('b8:27:eb:00:00:01', '192.168.1.10', 'rpi-1', 'rpi-3-b-plus', 'waltplatform/rpi-default:latest', 'waltplatform');
    insert.run('b8:27:eb:00:00:02', null, 'rpi-2', 'rpi-3-b-plus', 'waltplatform/rpi-default:latest', 'waltplatform');
    insert.run('00:16:3e:00:00:03', null, 'pc-1', 'pc-x86-64', 'alice/pc:v2', 'alice');
    assert.throws(() => insert.run('00:16:3e:00:00:04', null, 'pc-1', 'pc-x86-64', 'alice/pc:v2', 'alice'), 'node names are unique');
    db.close();
    assert.deepEqual(store.imagesInUse(), [
      { user: 'alice', name: 'pc', tag: 'v2' },
      { user: 'waltplatform', name: 'rpi-default', tag: 'latest' },
    ]);
  } finally {
    store.close();
  }
}));
