import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeDirectoryHeader, paddedSize } from './tar-header.ts';
import { DEFAULT_TAR_LIMITS, configureTarLimits, tarLimits, type TarLimits } from './tar-limits.ts';
import { TarScanner, scanTarFile } from './tar-scan.ts';

/** A tar of `dirs` directories and one file of `size` bytes (its data zeros). */
function tarOf(dirs: number, size: number): Buffer {
  const headers = Array.from({ length: dirs }, (_, i) => encodeDirectoryHeader(`d${i}`));
  const file = encodeDirectoryHeader('file');
  file[156] = 0x30; // regular file
  file.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  file.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of file) sum += byte;
  file.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return Buffer.concat([...headers, file, Buffer.alloc(paddedSize(size)), Buffer.alloc(1024)]);
}

function scanStream(data: Buffer, limits: TarLimits): number {
  let count = 0;
  const scanner = new TarScanner('test.tar', () => count++, limits);
  // Odd chunk sizes: headers split across chunks too.
  for (let i = 0; i < data.length; i += 700) scanner.push(data.subarray(i, i + 700));
  scanner.end();
  return count;
}

function scanFile(data: Buffer, limits: TarLimits): number {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-limits-'));
  try {
    writeFileSync(join(dir, 'test.tar'), data);
    return scanTarFile(join(dir, 'test.tar'), 'test.tar', Number.POSITIVE_INFINITY, limits)?.length ?? -1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cases: Array<{ name: string; data: Buffer; limits: Partial<TarLimits>; message: RegExp; hint: RegExp }> = [
  { name: 'entries', data: tarOf(10, 0), limits: { maxEntries: 5 }, message: /more than 5 entries/u, hint: /max_layer_entries .*KILN_MAX_LAYER_ENTRIES/u },
  { name: 'member size', data: tarOf(1, 5000), limits: { maxFileSize: 4096 }, message: /file\/?: more than 4096 bytes in one member \(5000\)/u, hint: /max_file_size .*KILN_MAX_FILE_SIZE/u },
  { name: 'layer size', data: tarOf(20, 0), limits: { maxLayerSize: 4096 }, message: /more than 4096 bytes of uncompressed tar/u, hint: /max_layer_size .*KILN_MAX_LAYER_SIZE/u },
  { name: 'declared size past the layer size', data: tarOf(0, 9000), limits: { maxLayerSize: 8192 }, message: /more than 8192 bytes of uncompressed tar/u, hint: /max_layer_size/u },
];

for (const { name, data, limits, message, hint } of cases) {
  test(`a tar past the ${name} limit is LIMIT_EXCEEDED, streamed or read in place`, () => {
    const all = { ...DEFAULT_TAR_LIMITS, ...limits };
    for (const scan of [scanStream, scanFile]) {
      assert.throws(() => scan(data, all), (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'LIMIT_EXCEEDED');
        assert.match(err.message, message);
        assert.match(err.hint ?? '', hint);
        return true;
      });
      assert.ok(scan(data, DEFAULT_TAR_LIMITS) > 0, 'the same tar passes the default limits');
    }
  });
}

test('configured limits apply to scanners created afterwards', () => {
  try {
    configureTarLimits({ maxEntries: 3 });
    assert.equal(tarLimits().maxEntries, 3);
    assert.equal(tarLimits().maxFileSize, DEFAULT_TAR_LIMITS.maxFileSize);
    assert.throws(() => new TarScanner('t', () => undefined).push(tarOf(4, 0)), { code: 'LIMIT_EXCEEDED' });
  } finally {
    configureTarLimits({});
  }
  assert.deepEqual(tarLimits(), DEFAULT_TAR_LIMITS);
});
