import { suite, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { isKilnError, digestOf, type Digest, type ErrorCode } from '../core/index.ts';
import type { ImageRef } from './reference.ts';
import type { Store } from './store.ts';
import { commitTestImage, stageTestImage } from './test-image.ts';

/** Makes a new, empty store for one test (and arranges its removal with `t.after`). */
export type MakeStore = (t: TestContext) => Store | Promise<Store>;

const ref = (user: string, name: string, tag = 'latest'): ImageRef => ({ user, name, tag });
const coded = (code: ErrorCode) => (err: unknown): boolean => isKilnError(err, code);
const readAll = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};
const names = (store: Store): string[] => store.listImages().map((i) => `${i.ref.user}/${i.ref.name}:${i.ref.tag}`);
const NODE = { 'walt.node.models': 'rpi-b' };

/**
 * The rules every Store keeps, as one suite: run it against each implementation (the store
 * on disk, the in-memory fake) so that the fake cannot drift from what it stands in for.
 */
export function runStoreContract(name: string, makeStore: MakeStore): void {
  const open = async (t: TestContext): Promise<Store> => {
    const store = await makeStore(t);
    t.after(() => store.close());
    return store;
  };

  suite(`Store contract: ${name}`, () => {
    test('a committed image is found, listed in name order and read back', async (t) => {
      const store = await open(t);
      const node = await commitTestImage(store, ref('bob', 'node'), { labels: NODE });
      await commitTestImage(store, ref('alice', 'web'));
      assert.deepEqual(names(store), ['alice/web:latest', 'bob/node:latest']);
      assert.deepEqual(store.getImage(ref('bob', 'node')), node);
      assert.equal(store.findImage(ref('bob', 'none')), undefined);
      assert.throws(() => store.getImage(ref('bob', 'none')), coded('NOT_FOUND'));
      assert.deepEqual([node.labels, node.platform, node.created], [NODE, { os: 'linux', architecture: 'amd64' }, '2024-01-01T00:00:00Z']);
      const manifest = await store.readManifest(node.manifestDigest);
      const bytes = await store.readManifestBytes(node.manifestDigest);
      assert.equal(digestOf(bytes), node.manifestDigest);
      assert.equal(node.size, bytes.length + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0));
      assert.deepEqual((await store.readConfig(manifest)).config?.Labels, NODE);
      const tree = await store.readTree(manifest);
      assert.equal(tree.get('etc/hostname')?.size, 'node\n'.length);
    });

    test('an existing name is refused unless forced, and forcing replaces it', async (t) => {
      const store = await open(t);
      const first = await commitTestImage(store, ref('bob', 'node'));
      await assert.rejects(commitTestImage(store, ref('bob', 'node'), { files: { a: 'other' } }), coded('ALREADY_EXISTS'));
      assert.equal(store.getImage(ref('bob', 'node')).manifestDigest, first.manifestDigest);
      const second = await commitTestImage(store, ref('bob', 'node'), { files: { a: 'other' } }, { force: true });
      assert.notEqual(second.manifestDigest, first.manifestDigest);
      assert.equal(store.getImage(ref('bob', 'node')).manifestDigest, second.manifestDigest);
      assert.deepEqual(names(store), ['bob/node:latest']);
    });

    test('duplicate copies a name (no data), rename moves it; both refuse a taken name unless forced', async (t) => {
      const store = await open(t);
      const node = await commitTestImage(store, ref('alice', 'node'));
      await commitTestImage(store, ref('bob', 'taken'), { files: { x: 'x' } });
      const blobs = (await store.verify()).blobsChecked;
      const copy = store.duplicate(ref('alice', 'node'), ref('bob', 'copy'));
      assert.deepEqual([copy.ref, copy.manifestDigest], [ref('bob', 'copy'), node.manifestDigest]);
      assert.equal((await store.verify()).blobsChecked, blobs, 'no blob is copied');
      assert.throws(() => store.duplicate(ref('alice', 'node'), ref('bob', 'taken')), coded('ALREADY_EXISTS'));
      assert.throws(() => store.duplicate(ref('alice', 'none'), ref('bob', 'x')), coded('NOT_FOUND'));
      assert.throws(() => store.rename(ref('bob', 'copy'), ref('bob', 'taken')), coded('ALREADY_EXISTS'));
      assert.deepEqual(store.rename(ref('bob', 'copy'), ref('bob', 'copy')).ref, ref('bob', 'copy'), 'renaming onto itself changes nothing');
      const moved = store.rename(ref('bob', 'copy'), ref('bob', 'taken'), { force: true });
      assert.equal(moved.manifestDigest, node.manifestDigest);
      assert.deepEqual(names(store), ['alice/node:latest', 'bob/taken:latest']);
      assert.throws(() => store.rename(ref('bob', 'copy'), ref('bob', 'again')), coded('NOT_FOUND'));
    });

    test('remove takes all the names or none, and frees the blobs no remaining image needs', async (t) => {
      const store = await open(t);
      const a = await stageTestImage(store, ref('bob', 'a'));
      const node = await store.commitImage(a.staging, a.image);
      await a.staging.dispose();
      store.duplicate(ref('bob', 'a'), ref('bob', 'b'));
      const other = await commitTestImage(store, ref('bob', 'other'), { files: { other: '1' } });
      await assert.rejects(store.remove([ref('bob', 'a'), ref('bob', 'none')]), coded('NOT_FOUND'));
      assert.deepEqual(names(store), ['bob/a:latest', 'bob/b:latest', 'bob/other:latest']);
      assert.deepEqual((await store.remove([ref('bob', 'a')])).map((r) => r.ref), [ref('bob', 'a')]);
      assert.ok(store.hasBlob(a.layer.digest) && store.hasBlob(node.manifestDigest), 'bob/b still needs them');
      await store.remove([ref('bob', 'b')]);
      assert.deepEqual([store.hasBlob(a.layer.digest), store.hasBlob(node.manifestDigest), store.hasBlob(a.image.manifest.config.digest)], [false, false, false]);
      assert.ok(store.hasBlob(other.manifestDigest), 'other images keep theirs');
      assert.equal((await store.verify()).ok, true);
    });

    test('staging checks digests and sizes; a commit that cannot complete leaves nothing', async (t) => {
      const store = await open(t);
      const staging = await store.createStaging();
      t.after(() => staging.dispose());
      const bytes = Buffer.from('layer bytes');
      await assert.rejects(staging.stage(Readable.from([bytes]), { digest: digestOf(Buffer.from('other')) }), coded('DIGEST_MISMATCH'));
      await assert.rejects(staging.stage(Readable.from([bytes]), { digest: digestOf(bytes), size: bytes.length + 1 }), coded('SIZE_MISMATCH'));
      const staged = await staging.stage(Readable.from([bytes]), { digest: digestOf(bytes), size: bytes.length });
      assert.deepEqual([staged.digest, staged.size], [digestOf(bytes), bytes.length]);
      assert.equal(store.hasBlob(staged.digest), false, 'staged blobs are not in the store');

      const incomplete = await stageTestImage(store, ref('bob', 'node'), { withoutLayer: true });
      t.after(() => incomplete.staging.dispose());
      await assert.rejects(store.commitImage(incomplete.staging, incomplete.image), coded('MISSING_BLOB'));
      assert.deepEqual(names(store), []);
      assert.equal(store.hasBlob(incomplete.image.manifestDigest), false);
      assert.equal(store.hasBlob(incomplete.image.manifest.config.digest), false);
      const report = await store.verify();
      assert.deepEqual([report.ok, report.blobsChecked], [true, 0]);
    });

    test('gc removes only blobs no image refers to and nothing holds', async (t) => {
      const store = await open(t);
      const node = await commitTestImage(store, ref('bob', 'node'));
      const hold = store.holdBlobs();
      const loose = Buffer.from('a built layer');
      const added = await store.addBlob(Readable.from([loose]), hold, { expected: { digest: digestOf(loose), size: loose.length } });
      assert.deepEqual(added, { digest: digestOf(loose), size: loose.length });
      await assert.rejects(store.addBlob(Readable.from([loose]), hold, { expected: { digest: node.manifestDigest } }), coded('DIGEST_MISMATCH'));
      assert.deepEqual(await store.gc(), { removedBlobs: 0, freedBytes: 0 }, 'held and referenced blobs stay');
      hold.release();
      assert.deepEqual(await store.gc(), { removedBlobs: 1, freedBytes: loose.length });
      assert.equal(store.hasBlob(added.digest), false);
      assert.ok(store.hasBlob(node.manifestDigest));
      assert.equal((await store.verify()).ok, true);
    });

    test('openBlob streams a blob checked against its digest and size', async (t) => {
      const store = await open(t);
      const { staging, image, layer } = await stageTestImage(store, ref('bob', 'node'));
      t.after(() => staging.dispose());
      await store.commitImage(staging, image);
      assert.deepEqual(await readAll(store.openBlob(layer.digest, layer.bytes.length)), layer.bytes);
      assert.deepEqual(await readAll(store.openBlob(layer.digest)), layer.bytes);
      await assert.rejects(readAll(store.openBlob(layer.digest, layer.bytes.length + 1)), coded('SIZE_MISMATCH'));
      await assert.rejects(readAll(store.openBlob(digestOf(Buffer.from('absent')))), coded('MISSING_BLOB'));
      const manifest = await store.readManifest(image.manifestDigest);
      assert.deepEqual(await readAll(store.layerSource.openLayer(manifest.layers[0] as NonNullable<typeof manifest.layers[0]>)), layer.bytes);
      assert.equal(store.blobSize(layer.digest), layer.bytes.length);
      assert.equal(store.blobSize(digestOf(Buffer.from('absent'))), undefined);
    });

    test('openBlobRange gives the bytes asked for, both ends included', async (t) => {
      const store = await open(t);
      const hold = store.holdBlobs();
      const bytes = Buffer.from('0123456789');
      const { digest } = await store.addBlob(Readable.from([bytes]), hold);
      assert.equal(await text(store.openBlobRange(digest, { start: 2, end: 5 })), '2345');
      assert.equal(await text(store.openBlobRange(digest, { start: 0, end: 9 })), '0123456789');
      assert.equal(await text(store.openBlobRange(digest, { start: 5, end: 4 })), '', 'an empty range');
      assert.throws(() => store.openBlobRange(digest, { start: 8, end: 10 }), coded('SIZE_MISMATCH'));
      const absent: Digest = digestOf(Buffer.from('absent'));
      assert.throws(() => store.openBlobRange(absent, { start: 0, end: 1 }), coded('MISSING_BLOB'));
      hold.release();
    });

    test('a clean store verifies, and no image is in use without nodes', async (t) => {
      const store = await open(t);
      assert.deepEqual(await store.verify(), { ok: true, blobsChecked: 0, bytesChecked: 0, corrupt: [], missing: [], strays: [], indexInSync: true });
      const node = await commitTestImage(store, ref('bob', 'node'));
      const report = await store.verify();
      assert.deepEqual([report.ok, report.blobsChecked, report.bytesChecked], [true, 3, node.size]);
      assert.deepEqual(store.imagesInUse(), []);
    });
  });
}
