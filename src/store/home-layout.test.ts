import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { digestOf } from '../core/index.ts';
import { openStore } from './store.ts';

const withStore = async (fn: (store: ReturnType<typeof openStore>, home: string) => Promise<void>): Promise<void> => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-home-layout-'));
  const store = openStore({ home });
  try {
    await fn(store, home);
  } finally {
    store.close();
    rmSync(home, { recursive: true, force: true });
  }
};

test('the store hands out cache and work directories by kind, inside its home', async () => {
  await withStore(async (store, home) => {
    const kinds = ['build', 'export', 'tree', 'registry-blobs', 'registry'] as const;
    const dirs = kinds.map((k) => store.dirs.cacheDir(k));
    assert.equal(new Set(dirs).size, kinds.length, 'one directory per kind');
    for (const d of dirs) assert.ok(!relative(home, d).startsWith('..'), `${d} is under the home`);
    const work = await store.dirs.workDir('export');
    assert.match(basename(work), new RegExp(`^export-${process.pid}-`));
    assert.deepEqual(readdirSync(dirname(work)).filter((n) => n.startsWith('export-')), [basename(work)]);
    await assert.rejects(store.dirs.workDir('../x'), { code: 'INVALID_NAME' });
  });
});

test('blobs are read by digest: whole, by range, and their size', async () => {
  await withStore(async (store) => {
    const hold = store.holdBlobs();
    const data = 'hello, ranged world';
    const blob = await store.addBlob(Readable.from([Buffer.from(data)]), hold);
    assert.equal(blob.digest, digestOf(Buffer.from(data)));
    assert.equal(store.blobSize(blob.digest), data.length);
    assert.equal(await text(store.openBlob(blob.digest, blob.size)), data);
    assert.equal(await text(store.openBlobRange(blob.digest, { start: 7, end: 12 })), 'ranged');
    assert.equal(await text(store.openBlobRange(blob.digest, { start: 3, end: 2 })), '', 'an empty range');
    assert.throws(() => store.openBlobRange(blob.digest, { start: 0, end: data.length }), { code: 'SIZE_MISMATCH' });
    assert.throws(() => store.openBlobRange(digestOf(Buffer.from('absent')), { start: 0, end: 0 }), { code: 'MISSING_BLOB' });
    assert.equal(store.blobSize(digestOf(Buffer.from('absent'))), undefined);
    hold.release();
  });
});

test('a blob added outside any image stays while held, and gc takes it once released', async () => {
  await withStore(async (store) => {
    const hold = store.holdBlobs();
    const blob = await store.addBlob(Readable.from([Buffer.from('a built layer')]), hold);
    const wrong = store.addBlob(Readable.from([Buffer.from('other bytes')]), hold, { expected: { digest: blob.digest } });
    await assert.rejects(wrong, { code: 'DIGEST_MISMATCH' });
    assert.equal((await store.gc()).removedBlobs, 0, 'held: gc leaves it');
    assert.ok(store.hasBlob(blob.digest));
    hold.release();
    assert.equal((await store.gc()).removedBlobs, 1, 'released and in no image: gc removes it');
    assert.ok(!store.hasBlob(blob.digest));
  });
});
