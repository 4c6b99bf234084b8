import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { isKilnError, type ErrorCode } from '../core/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { commitTestImage, createBrokenStore, createFakeStore, tarOf, type BrokenStoreOptions } from '../store/testing.ts';
import { createKiln, type Kiln } from './index.ts';

const NODE = { 'walt.node.models': 'pc-x86-64' };
const alice = { user: 'alice' };
const bob = { user: 'bob' };
const refused = (code: ErrorCode, message?: RegExp) => (err: unknown): boolean => isKilnError(err, code) && (!message || message.test(err.message));

/** A Kiln over `store`; the configuration comes from nowhere (no file, no home on disk). */
function kilnOver(t: TestContext, store: Store): Kiln {
  const nowhere = join(tmpdir(), 'kiln-nowhere-never-created');
  const config = loadConfig({ KILN_HOME: nowhere, HOME: nowhere, XDG_CONFIG_HOME: nowhere });
  const kiln = createKiln({ home: nowhere, config, env: {}, store });
  t.after(() => kiln.close());
  return kiln;
}

test('over the in-memory store: the image view, the store\'s nodes as usage, and the ownership rule, without a disk', async (t) => {
  const store = createFakeStore({ imagesInUse: [{ user: 'alice', name: 'node', tag: 'latest' }] });
  const node = await commitTestImage(store, { user: 'alice', name: 'node', tag: 'latest' }, { labels: NODE });
  await commitTestImage(store, { user: 'alice', name: 'base', tag: 'latest' }, { files: { base: '1' } });
  const kiln = kilnOver(t, store);

  // Only node images are listed; inUse comes from the store's nodes.
  const mine = kiln.listImages(alice).mine;
  assert.deepEqual(mine.map((v) => [v.name, v.ref, v.inUse, v.models, v.digest, v.size]), [['node', 'alice/node:latest', true, ['pc-x86-64'], node.manifestDigest, node.size]]);
  assert.deepEqual(kiln.listImages(bob, { all: true }).others.map((v) => [v.name, v.cloneUrl]), [['alice/node:latest', 'walt:alice/node']]);
  const inspected = await kiln.inspectImage(bob, 'alice/node');
  assert.deepEqual([inspected.view.name, inspected.manifest.layers.length, inspected.config.os], ['alice/node:latest', 1, 'linux']);

  assert.throws(() => kiln.renameImage(bob, 'alice/node', 'taken'), refused('INVALID_NAME', /belongs to alice, not to you \(bob\)/));
  await assert.rejects(kiln.removeImages(bob, ['alice/node']), refused('INVALID_NAME', /belongs to alice/));
  const copy = kiln.duplicateImage(bob, 'alice/node', 'mine');
  assert.deepEqual([copy.view.ref, copy.view.digest, copy.view.inUse], ['bob/mine:latest', node.manifestDigest, false]);
  assert.throws(() => kiln.duplicateImage(bob, 'alice/node', 'mine'), refused('ALREADY_EXISTS'));

  // alice's image goes; its blobs stay while bob's copy needs them, then go with it.
  const blobs = store.blobDigests();
  await kiln.removeImages(alice, ['node']);
  assert.deepEqual(store.blobDigests(), blobs);
  await kiln.removeImages(bob, ['mine']);
  assert.equal(store.hasBlob(node.manifestDigest), false);
  assert.equal((await kiln.verify(alice)).ok, true);
});

/** A store on disk holding alice's node image, and a Kiln over it broken as `failOn` says. */
async function brokenSetUp(t: TestContext, failOn: BrokenStoreOptions['failOn']): Promise<{ kiln: Kiln; inner: Store; dir: string; rootfs: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-broken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const inner = openStore({ home: join(dir, 'home') });
  t.after(() => inner.close());
  await commitTestImage(inner, { user: 'alice', name: 'node', tag: 'latest' }, { labels: NODE });
  const rootfs = join(dir, 'rootfs.tar');
  writeFileSync(rootfs, await tarOf({ 'etc/hostname': 'node\n' }));
  return { kiln: kilnOver(t, createBrokenStore(inner, { failOn })), inner, dir, rootfs };
}

/** What a caller may not change when an operation fails: the names, their digests, and the blobs. */
async function snapshot(store: Store): Promise<unknown> {
  const report = await store.verify();
  return { images: store.listImages().map((i) => [i.ref, i.manifestDigest]), ok: report.ok, blobs: report.blobsChecked, bytes: report.bytesChecked };
}

test('an import whose commit meets a concurrent writer fails with CONFLICT and leaves the store as it was', async (t) => {
  const { kiln, inner, rootfs } = await brokenSetUp(t, { commitImage: 'conflict' });
  const before = await snapshot(inner);
  await assert.rejects(kiln.importImage(alice, rootfs, { name: 'other', labels: NODE }), refused('CONFLICT'));
  assert.deepEqual(await snapshot(inner), before);
});

test('an import whose staging finds content that does not hash to its name fails with DIGEST_MISMATCH, nothing added', async (t) => {
  const { kiln, inner, rootfs } = await brokenSetUp(t, { createStaging: 'digest-mismatch' });
  const before = await snapshot(inner);
  await assert.rejects(kiln.importImage(alice, rootfs, { name: 'other', labels: NODE }), refused('DIGEST_MISMATCH'));
  assert.deepEqual(await snapshot(inner), before);
});

test('an export whose layer breaks mid-stream fails with IO and leaves no file behind', async (t) => {
  const { kiln, dir } = await brokenSetUp(t, { openBlob: 'mid-stream' });
  await assert.rejects(kiln.exportImage(alice, 'node', join(dir, 'node.tar'), { format: 'oci-archive' }), refused('IO', /input\/output error/));
  assert.deepEqual(readdirSync(dir).sort(), ['home', 'rootfs.tar'], 'neither the archive nor a partial file is left');
});

test('a remove on a full disk fails with IO and removes nothing; a rename in a conflict renames nothing', async (t) => {
  const { kiln, inner } = await brokenSetUp(t, { remove: 'io', rename: 'conflict' });
  const before = await snapshot(inner);
  await assert.rejects(kiln.removeImages(alice, ['node']), refused('IO', /no space left on device/));
  assert.throws(() => kiln.renameImage(alice, 'node', 'moved'), refused('CONFLICT'));
  assert.deepEqual(await snapshot(inner), before);
  // The ownership rule still answers first: a broken store is not reached for a refused request.
  await assert.rejects(kiln.removeImages(bob, ['alice/node']), refused('INVALID_NAME'));
});
