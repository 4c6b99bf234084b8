import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMPRESSIONS, exportCacheKey, parseChoice, renderManifest, type BootManifest, type CacheKeyInput } from './manifest.ts';
import { encodeDirectoryHeader as directoryHeader } from '../core/index.ts';
import { isKilnError, isTarHeader } from '../core/index.ts';

test('the cache key changes with every input that changes the artifacts, and only with them', () => {
  const base: CacheKeyInput = { manifestDigest: 'sha256:aa', format: 'boot', rootfs: 'squashfs', compression: 'gzip', kernelVersion: undefined };
  const key = exportCacheKey(base);
  assert.equal(exportCacheKey({ ...base }), key, 'stable');
  const variants: CacheKeyInput[] = [
    { ...base, manifestDigest: 'sha256:bb' }, { ...base, format: 'squashfs' }, { ...base, rootfs: 'erofs' },
    { ...base, compression: 'zstd' }, { ...base, kernelVersion: '6.1.0-31-amd64' },
  ];
  const keys = new Set([key, ...variants.map(exportCacheKey)]);
  assert.equal(keys.size, variants.length + 1);
  assert.match(key, /^[0-9a-f]{32}$/);
});

test('renderManifest writes indented JSON that parses back to the same value', () => {
  const manifest: BootManifest = {
    schemaVersion: 1, image: 'alice/x:latest', digest: 'sha256:aa', architecture: 'amd64', os: { id: 'debian', versionId: '12' },
    kernelVersion: '6.1.0-31-amd64', initramfs: 'live-boot', rootfs: { type: 'squashfs', compression: 'gzip' }, baseUrl: null,
    kernelParameters: null, kernelParametersTemplate: 'boot=live', artifacts: [{ role: 'rootfs', names: ['x/latest/amd64/rootfs.squashfs'], size: 1, sha256: 'ab' }],
  };
  const text = renderManifest(manifest);
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(JSON.parse(text), manifest);
});

test('directory headers for missing mount points are valid ustar headers', () => {
  const header = directoryHeader('./proc/');
  assert.equal(header.length, 512);
  assert.ok(isTarHeader(header), 'checksum is right');
  assert.equal(header.subarray(0, 8).toString('latin1'), './proc/\0');
  assert.equal(String.fromCharCode(header[156] as number), '5');
});

test('parseChoice accepts listed values and refuses others as usage errors', () => {
  assert.equal(parseChoice(COMPRESSIONS, 'zstd', 'compression'), 'zstd');
  assert.equal(parseChoice(COMPRESSIONS, undefined, 'compression'), undefined);
  assert.throws(() => parseChoice(COMPRESSIONS, 'brotli', 'compression'), (err) => isKilnError(err, 'USAGE') && /gzip, xz, zstd, lzo, lz4/.test(err.hint));
});
