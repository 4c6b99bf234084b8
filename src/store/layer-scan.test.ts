import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { MediaType, digestOf, type Digest } from '../core/index.ts';
import { openLayerIndex } from './layer-index.ts';
import { startLayerScan } from './layer-scan.ts';
import { tarOf } from './test-image.ts';
import type { Descriptor } from './oci.ts';

const GZIP = MediaType.ociLayerGzip;
const ZSTD = MediaType.ociLayerZstd;

function layerOf(bytes: Buffer, mediaType: string): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.length };
}

/** Feeds `bytes` in small uneven chunks, a few at a time, as a download would. */
async function scan(bytes: Buffer, mediaType: string, dir: string) {
  const s = startLayerScan(layerOf(bytes, mediaType), join(dir, 'scan.index.db'));
  for (let at = 0, n = 1; at < bytes.length; at += n * 777, n = (n % 3) + 1) {
    await s.write(Array.from({ length: n }, (_, i) => bytes.subarray(at + i * 777, at + (i + 1) * 777)).filter((c) => c.length > 0));
  }
  return s.end();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-scan-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a layer scanned while it streams gives its diff_id and a finished index (gzip, zstd, uncompressed)', async () => {
  const tar = await tarOf({ 'etc/hostname': 'node\n', 'usr/bin/tool': 'x'.repeat(100_000) });
  const cases: Array<[string, Buffer, string, Digest | undefined]> = [
    ['gzip', gzipSync(tar), GZIP, digestOf(tar)],
    ['zstd', zstdCompressSync(tar), ZSTD, digestOf(tar)],
    ['uncompressed', tar, MediaType.ociLayer, undefined],
  ];
  for (const [name, bytes, mediaType, diffId] of cases) {
    await withDir(async (dir) => {
      const result = await scan(bytes, mediaType, dir);
      assert.deepEqual(result.outcome && ('diffId' in result.outcome ? result.outcome.diffId : result.outcome.error), diffId, name);
      assert.ok(result.indexFile, name);
      const index = openLayerIndex(result.indexFile);
      assert.ok(index, name);
      try {
        assert.equal(index.get('usr/bin', 'tool')?.size, 100_000, name);
        assert.equal(index.get('', 'usr')?.type, 'implied', name);
      } finally {
        index.close();
      }
    });
  }
});

test('a layer that does not decompress, has trailing bytes or is no tar gives no index (and the diff_id check its error)', async () => {
  const tar = await tarOf({ 'a': 'b' });
  const gz = gzipSync(tar);
  const corrupt = Buffer.from(gz);
  corrupt.fill(0xff, 10, 40);
  const cases: Array<[string, Buffer, RegExp | undefined]> = [
    ['corrupt gzip', corrupt, /./u],
    ['trailing bytes', Buffer.concat([gz, Buffer.from('junk')]), /./u],
    ['trailing zero bytes', Buffer.concat([gz, Buffer.alloc(64)]), /./u],
    ['not a tar', gzipSync(Buffer.alloc(4096, 0x41)), undefined],
  ];
  for (const [name, bytes, error] of cases) {
    await withDir(async (dir) => {
      const result = await scan(bytes, GZIP, dir);
      assert.equal(result.indexFile, undefined, name);
      assert.equal(existsSync(join(dir, 'scan.index.db')), false, name);
      if (error) {
        assert.ok(result.outcome && 'error' in result.outcome, name);
        assert.match(result.outcome.error.message, error, name);
      } else assert.ok(result.outcome && 'diffId' in result.outcome, name);
    });
  }
});

test('an aborted scan leaves no index file behind', async () => {
  await withDir(async (dir) => {
    const bytes = gzipSync(await tarOf({ 'a': 'b'.repeat(50_000) }));
    const s = startLayerScan(layerOf(bytes, GZIP), join(dir, 'scan.index.db'));
    await s.write([bytes.subarray(0, 1000)]);
    await s.abort();
    assert.equal(existsSync(join(dir, 'scan.index.db')), false);
  });
});
