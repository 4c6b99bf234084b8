import { test } from 'node:test';
import assert from 'node:assert/strict';
import { digestOf, isKilnError, MediaType } from '../core/index.ts';
import { isOciManifest, parseManifest, parsePlatform, platformMatches, renderManifest } from './oci.ts';
import { renderLayoutIndex } from './layout-index.ts';
import { classifyTarNames } from './import/detect.ts';

const d = (s: string) => digestOf(s);

test('parseManifest accepts OCI and Docker schema2, refuses the rest with BAD_ARCHIVE', () => {
  const docker = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: d('c'), size: 1 },
    layers: [{ mediaType: MediaType.dockerLayerGzip, digest: d('l'), size: 2 }],
  });
  const m = parseManifest(docker, 'm');
  assert.equal(isOciManifest(m), false);
  const bad = [
    '{"schemaVersion":1}',
    '[]',
    'not json',
    JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: 'sha256:zz', size: 1 }, layers: [] }),
    JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: d('c'), size: -1 }, layers: [] }),
    JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x', digest: d('c'), size: 1 }, layers: [{ mediaType: 'application/x-unknown', digest: d('l'), size: 1 }] }),
  ];
  for (const text of bad) assert.throws(() => parseManifest(text, 'm'), (e) => isKilnError(e) && ['BAD_ARCHIVE'].includes(e.code), text);
});

test('renderManifest converts Docker media types to OCI, deterministically', () => {
  const text = renderManifest({ mediaType: MediaType.dockerConfig, digest: d('c'), size: 1 }, [{ mediaType: MediaType.dockerLayer, digest: d('l'), size: 2 }]);
  assert.equal(text, renderManifest({ mediaType: MediaType.ociConfig, digest: d('c'), size: 1 }, [{ mediaType: MediaType.ociLayer, digest: d('l'), size: 2 }]));
  const m = parseManifest(text, 'm');
  assert.equal(isOciManifest(m), true);
  assert.equal(m.layers[0]?.mediaType, MediaType.ociLayer);
});

test('platforms parse and match (variant only when both give one)', () => {
  assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.throws(() => parsePlatform('linux'), (e) => isKilnError(e, 'USAGE'));
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
  assert.ok(!platformMatches(undefined, { os: 'linux', architecture: 'amd64' }));
});

test('index.json is rendered sorted, with ref.name annotations', () => {
  const entry = (user: string, name: string) => ({ ref: { user, name, tag: 'latest' }, manifestDigest: d(name), manifestSize: 10, platform: { os: 'linux', architecture: 'amd64' } });
  const text = renderLayoutIndex([entry('bob', 'b'), entry('alice', 'a')]);
  assert.equal(text, renderLayoutIndex([entry('alice', 'a'), entry('bob', 'b')]));
  const index = JSON.parse(text) as { manifests: Array<{ annotations: Record<string, string> }> };
  assert.deepEqual(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']), ['alice/a:latest', 'bob/b:latest']);
});

test('archive member names tell the formats apart', () => {
  const cases: Array<[string[], string]> = [
    [['blobs/', 'blobs/sha256/abc', 'oci-layout', 'index.json'], 'oci-archive'],
    [['./blobs/sha256/abc'], 'oci-archive'],
    [['abc.tar', 'abc.json', 'manifest.json', 'repositories'], 'docker-archive'],
    [['blobs/sha256/abc', 'index.json', 'oci-layout', 'manifest.json'], 'docker-archive'],
    [['./', './etc/', './etc/passwd', './bin/sh'], 'rootfs'],
  ];
  for (const [names, format] of cases) assert.equal(classifyTarNames(names), format, names.join(','));
});
