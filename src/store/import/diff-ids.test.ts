import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { digestOf, isKilnError, MediaType } from '../../core/index.ts';
import type { ImageConfig } from '../oci.ts';
import { DiffIdTee, verifyDiffIds, type DiffIdLedger } from './diff-ids.ts';

const payload = Buffer.alloc(300_000, 'kiln layer bytes ');

/** Streams `data` through a tee in small chunks, as an archive member arrives. */
async function through(tee: DiffIdTee, data: Buffer, chunk = 3): Promise<Buffer> {
  // A first chunk shorter than the magic bytes, then larger ones.
  const parts: Buffer[] = [data.subarray(0, chunk)];
  for (let i = chunk; i < data.length; i += chunk * 1000) parts.push(data.subarray(i, i + chunk * 1000));
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), tee, new Writable({ write: (c: Buffer, _e, cb) => { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

test('the tee passes bytes through unchanged and computes the diff_id of gzip and zstd, given or sniffed', async () => {
  for (const [compression, packed] of [['gzip', gzipSync(payload)], ['zstd', zstdCompressSync(payload)]] as const) {
    for (const mode of [compression, 'sniff'] as const) {
      const tee = new DiffIdTee(mode);
      assert.deepEqual(await through(tee, packed), packed);
      assert.deepEqual(tee.outcome, { compression, diffId: digestOf(payload) }, `${compression} ${mode}`);
    }
  }
  const plain = new DiffIdTee('sniff');
  assert.deepEqual(await through(plain, payload), payload);
  assert.equal(plain.outcome, undefined, 'an uncompressed blob is its own diff_id');
  const tiny = new DiffIdTee('sniff');
  assert.deepEqual(await through(tiny, Buffer.from('{}')), Buffer.from('{}'));
  assert.equal(tiny.outcome, undefined);
});

test('a corrupt or truncated compressed blob still stages; the tee keeps the decompression error', async () => {
  const packed = gzipSync(payload);
  const corrupt = Buffer.from(packed);
  corrupt.fill(0x55, 100, 200);
  for (const bad of [corrupt, packed.subarray(0, packed.length - 30)]) {
    const tee = new DiffIdTee('sniff');
    assert.deepEqual(await through(tee, bad), bad);
    const outcome = tee.outcome;
    assert.ok(outcome && 'error' in outcome, 'error kept');
  }
});

test('bytes after the gzip stream are an error, also when gunzip ends before its input does (a zero byte past the end)', async () => {
  const packed = Buffer.concat([gzipSync(payload), Buffer.from('00490e970d858e182b1867e65b807729a984', 'hex'), Buffer.alloc(70_000, 9)]);
  for (const mode of ['gzip', 'sniff'] as const) {
    const tee = new DiffIdTee(mode);
    // The end of the gzip stream and the bytes after it in one write: gunzip ends there.
    assert.deepEqual(await through(tee, packed, 100), packed);
    const outcome = tee.outcome;
    assert.ok(outcome && 'error' in outcome && /70018 bytes after the end/.test(outcome.error.message), `${mode}: ${JSON.stringify(outcome)}`);
  }
});

const layerOf = (data: Buffer, mediaType: string) => ({ mediaType, digest: digestOf(data), size: data.length });
const configWith = (diffIds: string[]): ImageConfig => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds as ImageConfig['rootfs']['diff_ids'] } });

test('verifyDiffIds: counts, plain layers, known and computed diff_ids, mismatches and corrupt layers', async () => {
  const gz = gzipSync(payload);
  const plain = Buffer.from('a plain tar would be here');
  const layers = [layerOf(plain, MediaType.ociLayer), layerOf(gz, MediaType.ociLayerGzip)];
  const blobs = new Map([[layers[0]!.digest, plain], [layers[1]!.digest, gz]]);
  const open = (l: { digest: string }) => Readable.from([blobs.get(l.digest as `sha256:${string}`)!]);
  const good = configWith([digestOf(plain), digestOf(payload)]);
  await verifyDiffIds({ what: 'img', config: good, layers, open });
  const ledger: DiffIdLedger = new Map([[layers[1]!.digest, { compression: 'gzip', diffId: digestOf(payload) }]]);
  await verifyDiffIds({ what: 'img', config: good, layers, ledger, open: () => assert.fail('no second pass when the ledger knows') });

  const expectCode = async (code: string, input: Parameters<typeof verifyDiffIds>[0], message: RegExp): Promise<void> => {
    await assert.rejects(verifyDiffIds(input), (err: unknown) => isKilnError(err) && err.code === code && message.test(err.message) && err.hint.length > 0);
  };
  await expectCode('DIGEST_MISMATCH', { what: 'img', config: configWith([digestOf(plain)]), layers, open }, /1 diff_ids for 2 layers/);
  await expectCode('DIGEST_MISMATCH', { what: 'img', config: configWith([digestOf(plain), digestOf(gz)]), layers, open }, /layer 2 .* has diff_id/);
  const broken = Buffer.from(gz);
  broken.fill(0, 50, 150);
  blobs.set(layers[1]!.digest, broken);
  await expectCode('BAD_ARCHIVE', { what: 'img', config: good, layers, open }, /does not decompress \(gzip\)/);
  const failed: DiffIdLedger = new Map([[layers[1]!.digest, { compression: 'gzip', error: new Error('invalid block type') }]]);
  await expectCode('BAD_ARCHIVE', { what: 'img', config: good, layers, ledger: failed, open }, /invalid block type/);
  await expectCode('UNSUPPORTED', { what: 'img', config: configWith([digestOf(plain)]), layers: [layerOf(plain, 'application/x-foo')], open }, /unsupported media type/);
});
