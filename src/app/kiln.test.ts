import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { loadConfig } from '../config/index.ts';
import { isKilnError, type ErrorCode } from '../core/index.ts';
import { createKiln, type ImageUsage, type Kiln } from './index.ts';

/** A root filesystem tarball: enough to import, not enough to boot. */
async function rootfsTarball(file: string): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: 'etc/', type: 'directory', mode: 0o755 });
  pack.entry({ name: 'etc/hostname', mode: 0o644 }, 'node\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
}

/** One Kiln over a fresh KILN_HOME holding alice's node image `node` (as a daemon would hold it for everyone). */
async function setUp(t: TestContext, usage?: ImageUsage): Promise<{ kiln: Kiln; rootfs: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-app-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home');
  // An empty registries list: nothing here may reach the network.
  writeFileSync(join(dir, 'kiln.yaml'), 'registries: []\n');
  const config = loadConfig({ KILN_HOME: home, KILN_CONFIG: join(dir, 'kiln.yaml') });
  const kiln = createKiln({ home, config, env: {}, ...(usage ? { usage } : {}) });
  t.after(() => kiln.close());
  const rootfs = join(dir, 'rootfs.tar');
  await rootfsTarball(rootfs);
  await kiln.importImage({ user: 'alice' }, rootfs, { name: 'node', labels: { 'walt.node.models': 'pc-x86-64' } });
  return { kiln, rootfs };
}

const refused = (code: ErrorCode, message: RegExp) => (err: unknown): boolean => isKilnError(err, code) && message.test(err.message);

test('each call acts as its request\'s user: one Kiln serves alice and bob', async (t) => {
  const { kiln } = await setUp(t);
  const alice = kiln.listImages({ user: 'alice' });
  assert.deepEqual(alice.mine.map((v) => [v.name, v.ref, v.inUse]), [['node', 'alice/node:latest', false]]);
  const bob = kiln.listImages({ user: 'bob' }, { all: true });
  assert.deepEqual(bob.mine, []);
  assert.deepEqual(bob.others.map((v) => [v.name, v.cloneUrl]), [['alice/node:latest', 'walt:alice/node']]);
  // bob's copy is his: the same image under his name, no data copied.
  const copy = kiln.duplicateImage({ user: 'bob' }, 'alice/node', 'mine');
  assert.deepEqual([copy.view.ref, copy.view.digest], ['bob/mine:latest', alice.mine[0]?.digest]);
  assert.throws(() => kiln.listImages({ user: 'Not A User' }), refused('INVALID_NAME', /user "Not A User"/));
});

test('the ownership rule: only the owner changes, removes or publishes an image, and imports go under one\'s own name', async (t) => {
  const { kiln, rootfs } = await setUp(t);
  const bob = { user: 'bob' };
  assert.throws(() => kiln.renameImage(bob, 'alice/node', 'taken'), refused('INVALID_NAME', /^alice\/node:latest belongs to alice, not to you \(bob\)$/));
  assert.throws(() => kiln.duplicateImage(bob, 'alice/node', 'alice/other'), refused('INVALID_NAME', /belongs to alice/));
  await assert.rejects(kiln.removeImages(bob, ['alice/node']), refused('INVALID_NAME', /belongs to alice/));
  await assert.rejects(kiln.publishImage(bob, 'alice/node', { force: true }), refused('INVALID_NAME', /belongs to alice/));
  await assert.rejects(kiln.importImage(bob, rootfs, { name: 'alice/sneaky' }), refused('INVALID_NAME', /^cannot import as alice\/sneaky:latest: images are imported under your own name \(bob\)$/));
  assert.equal(kiln.listImages({ user: 'alice' }).mine.length, 1, 'alice\'s image is untouched');
});

test('the publish gate refuses an image that fails the check before any registry is contacted', async (t) => {
  const { kiln } = await setUp(t);
  // No registry is configured here: the gate answers first.
  await assert.rejects(kiln.publishImage({ user: 'alice' }, 'node'), refused('CHECK_FAILED', /^alice\/node:latest fails the bootability check: /));
});

test('inUse comes from the usage query, asked once per listing', async (t) => {
  let asked = 0;
  const usage: ImageUsage = { imagesInUse: () => (asked++, new Set(['alice/node:latest'])) };
  const { kiln } = await setUp(t, usage);
  asked = 0;
  const { mine } = kiln.listImages({ user: 'alice' });
  assert.deepEqual(mine.map((v) => v.inUse), [true]);
  assert.equal(asked, 1);
  assert.equal((await kiln.inspectImage({ user: 'bob' }, 'alice/node')).view.inUse, true);
});

test('gc after remove leaves nothing to collect, and verify passes', async (t) => {
  const { kiln } = await setUp(t);
  await kiln.removeImages({ user: 'alice' }, ['node']);
  assert.deepEqual(await kiln.gc({ user: 'alice' }), { removedBlobs: 0, freedBytes: 0 });
  assert.equal((await kiln.verify({ user: 'alice' })).ok, true);
});
