import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { isKilnError, digestOf, type ErrorCode } from '../core/index.ts';
import { createBrokenStore } from './broken-store.ts';
import { createFakeStore } from './fake-store.ts';
import { commitTestImage, stageTestImage } from './test-image.ts';

const ref = { user: 'bob', name: 'node', tag: 'latest' };
const coded = (code: ErrorCode) => (err: unknown): boolean => isKilnError(err, code);

/** Reads a stream, keeping what arrived before it failed. */
async function drain(stream: Readable): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

test('blob streams break as asked: half the bytes then IO, or altered bytes then DIGEST_MISMATCH', async () => {
  const inner = createFakeStore();
  const hold = inner.holdBlobs();
  const bytes = Buffer.from('0123456789');
  const { digest } = await inner.addBlob(Readable.from([bytes]), hold);
  const cut = await drain(createBrokenStore(inner, { failOn: { openBlob: 'mid-stream' } }).openBlob(digest));
  assert.deepEqual([cut.bytes.toString(), isKilnError(cut.error, 'IO')], ['01234', true]);
  const bad = await drain(createBrokenStore(inner, { failOn: { openBlob: 'digest-mismatch' } }).openBlob(digest));
  assert.ok(isKilnError(bad.error, 'DIGEST_MISMATCH'));
  assert.notDeepEqual(bad.bytes, bytes);
  const range = await drain(createBrokenStore(inner, { failOn: { openBlobRange: 'mid-stream' } }).openBlobRange(digest, { start: 2, end: 7 }));
  assert.deepEqual([range.bytes.toString(), isKilnError(range.error, 'IO')], ['234', true]);
  // Through the layer source too: it is openBlob by another name.
  const layer = await drain(createBrokenStore(inner, { failOn: { openBlob: 'mid-stream' } }).layerSource.openLayer({ mediaType: 'x', digest, size: 10 }));
  assert.ok(isKilnError(layer.error, 'IO'));
  assert.deepEqual(await drain(inner.openBlob(digest)), { bytes, error: undefined }, 'the inner store is intact');
});

test('calls fail with their code before the inner store is touched; other operations pass through', async () => {
  const inner = createFakeStore();
  await commitTestImage(inner, ref);
  const broken = createBrokenStore(inner, { failOn: { duplicate: 'conflict', gc: 'io', commitImage: 'io' } });
  assert.throws(() => broken.duplicate(ref, { ...ref, name: 'copy' }), coded('CONFLICT'));
  await assert.rejects(broken.gc(), coded('IO'));
  await assert.rejects(commitTestImage(broken, { ...ref, name: 'other' }, { files: { other: '1' } }), coded('IO'));
  assert.deepEqual(broken.listImages(), inner.listImages());
  assert.deepEqual(inner.listImages().map((i) => i.ref.name), ['node']);
  assert.equal(broken.rename(ref, { ...ref, name: 'moved' }).ref.name, 'moved');
});

test('staging and addBlob that meet content not matching its name fail with DIGEST_MISMATCH and add nothing', async () => {
  const inner = createFakeStore();
  const broken = createBrokenStore(inner, { failOn: { createStaging: 'digest-mismatch', addBlob: 'digest-mismatch' } });
  await assert.rejects(stageTestImage(broken, ref), coded('DIGEST_MISMATCH'));
  const bytes = Buffer.from('layer');
  await assert.rejects(broken.addBlob(Readable.from([bytes]), broken.holdBlobs()), coded('DIGEST_MISMATCH'));
  assert.equal(inner.hasBlob(digestOf(bytes)), false);
  assert.deepEqual(inner.blobDigests(), []);
});

test('a staging area handed out by a broken store commits into the inner store', async () => {
  const inner = createFakeStore();
  await commitTestImage(inner, ref);
  const broken = createBrokenStore(inner, { failOn: { createStaging: 'digest-mismatch' } });
  // The layer is in the store already: only documents are staged, and stageBytes is not broken.
  const { staging, image } = await stageTestImage(broken, { ...ref, tag: 'v2' }, { withoutLayer: true });
  const record = await broken.commitImage(staging, image);
  await staging.dispose();
  assert.deepEqual(inner.getImage({ ...ref, tag: 'v2' }), record);
});
