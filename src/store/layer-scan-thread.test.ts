import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { MediaType, digestOf } from '../core/index.ts';
import { openLayerIndex } from './layer-index.ts';
import { createLayerScanThread, type LayerScanThread } from './layer-scan-thread.ts';
import { tarOf } from './test-image.ts';
import type { Descriptor } from './oci.ts';

function layerOf(bytes: Buffer): Descriptor {
  return { mediaType: MediaType.ociLayerGzip, digest: digestOf(bytes), size: bytes.length };
}

async function withThread(fn: (thread: LayerScanThread, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-scan-thread-'));
  const thread = createLayerScanThread();
  try {
    await fn(thread, dir);
  } finally {
    await thread.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Feeds `bytes` in chunks of `size`, three to a message: a view into a buffer that is then reused
 * (copied by the scan), and two buffers of their own, moved to the thread.
 */
async function feed(scan: { write(c: readonly Uint8Array[]): Promise<void> | undefined }, bytes: Buffer, size: number): Promise<void> {
  const reused = Buffer.alloc(size + 1);
  for (let at = 0; at < bytes.length; at += 3 * size) {
    const n = bytes.copy(reused, 0, at, at + size);
    const own = [1, 2].map((i) => new Uint8Array(bytes.subarray(at + i * size, at + (i + 1) * size)));
    await scan.write([reused.subarray(0, n), ...own.filter((o) => o.byteLength > 0)]);
    reused.fill(0xff);
    for (const o of own) assert.equal(o.byteLength, 0, 'a buffer of its own is moved, not copied');
  }
}

test('layers scanned on the thread, side by side, give their diff_ids and indexes; views are copied, whole buffers moved', async () => {
  await withThread(async (thread, dir) => {
    // Bigger than the bytes allowed in flight: the writes must wait for the thread.
    const tars = [await tarOf({ 'etc/hostname': 'a\n', 'big.bin': randomBytes(9 << 20).toString('latin1') }), await tarOf({ 'etc/os-release': 'ID=debian\n' })];
    const layers = tars.map((t) => gzipSync(t, { level: 1 }));
    const scans = layers.map((l, i) => thread.start(layerOf(l), join(dir, `${i}.index.db`)));
    await Promise.all(scans.map((s, i) => feed(s, layers[i] as Buffer, 1 << 20)));
    const results = await Promise.all(scans.map((s) => s.end()));
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r.outcome, { compression: 'gzip', diffId: digestOf(tars[i] as Buffer) });
      const index = openLayerIndex(r.indexFile as string);
      assert.ok(index);
      assert.equal(index.get('etc', i === 0 ? 'hostname' : 'os-release')?.type, 'file');
      index.close();
    }
  });
});

test('a corrupt layer on the thread is an outcome with its error and no index', async () => {
  await withThread(async (thread, dir) => {
    const good = gzipSync(await tarOf({ 'a.txt': 'x' }));
    const bad = Buffer.concat([good.subarray(0, 20), Buffer.alloc(200, 7)]);
    const scan = thread.start(layerOf(bad), join(dir, 'bad.index.db'));
    await feed(scan, bad, 64);
    const r = await scan.end();
    assert.ok(r.outcome && 'error' in r.outcome && r.outcome.error instanceof Error);
    assert.equal(r.indexFile, undefined);
    assert.equal(existsSync(join(dir, 'bad.index.db')), false);
  });
});

test('an aborted scan leaves no index; a closed thread gives no result instead of failing the download', async () => {
  await withThread(async (thread, dir) => {
    const layer = gzipSync(await tarOf({ 'a.txt': 'x'.repeat(50_000) }));
    const scan = thread.start(layerOf(layer), join(dir, 'a.index.db'));
    await feed(scan, layer.subarray(0, 1000), 100);
    await scan.abort();
    assert.equal(existsSync(join(dir, 'a.index.db')), false);

    const late = thread.start(layerOf(layer), join(dir, 'b.index.db'));
    await thread.close();
    assert.ok(thread.failed);
    await feed(late, layer, 4096);
    assert.deepEqual(await late.end(), { outcome: undefined, indexFile: undefined });
  });
});
