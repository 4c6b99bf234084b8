import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdDecompressSync, gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { json, kilnFor, makeRootfsDir, podmanFor, scratch, sh, tarDir } from '../helpers.ts';
import { makeTar, writeLayout } from '../oci-fixture.ts';

interface Inspect {
  digest: string;
  ref: string;
  labels: Record<string, string>;
  manifest: { layers: Array<{ mediaType: string; digest: string }> };
  config: { rootfs: { diff_ids: string[] } };
}

async function setup(t: Parameters<typeof scratch>[0]) {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const root = makeRootfsDir(dir);
  const rootfs = tarDir(root, join(dir, 'rootfs.tar'));
  const kiln = kilnFor(home, 'alice');
  const ok = async (args: string[]) => {
    const r = await kiln(args);
    assert.equal(r.code, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const inspect = async (name: string) => json<Inspect>(await ok(['image', 'inspect', name, '--json']));
  return { dir, home, root, rootfs, kiln, ok, inspect, store: join(home, 'store') };
}

/** Lists a tar's members with type, mode and owner, as `tar -tv` shows them. */
function tarListing(file: string): string {
  return sh('tar', ['--numeric-owner', '-tvf', file]);
}

test('images saved by podman import in every format, and export/import round-trips keep the digest', async (t) => {
  const { dir, rootfs, ok, inspect } = await setup(t);
  const podman = podmanFor(dir);
  podman(['import', '--change', 'LABEL walt.node.models=pc-x86-64', rootfs, 'localhost/src:1']);
  const saved: Array<[string, string]> = [
    ['docker-archive', join(dir, 'p-docker.tar')],
    ['oci-archive', join(dir, 'p-oci.tar')],
    ['oci', join(dir, 'p-oci-dir')],
  ];
  podman(['save', '--format', 'docker-archive', '-o', saved[0]![1], 'localhost/src:1']);
  podman(['save', '--format', 'oci-archive', '-o', saved[1]![1], 'localhost/src:1']);
  podman(['save', '--format', 'oci-dir', '-o', saved[2]![1], 'localhost/src:1']);
  for (const [format, path] of saved) {
    const name = `from-${format}`;
    const imported = await ok(['image', 'import', path, name]);
    assert.match(imported.stdout, new RegExp(`\\(${format},`), 'the format is detected');
    const image = await inspect(name);
    assert.equal(image.labels['walt.node.models'], 'pc-x86-64');
    // The content is the rootfs podman was given.
    const out = join(dir, `${name}.rootfs.tar`);
    await ok(['image', 'export', name, out, '--format', 'rootfs']);
    assert.match(tarListing(out), /-rwsr-xr-x 0\/0 .* \.\/usr\/bin\/tool(-hardlink)?\n/, 'setuid file');
    assert.match(tarListing(out), /^h.* link to \.\/usr\/bin\/tool/m, 'hardlink');
    for (const exportFormat of ['oci', 'oci-archive', 'docker-archive']) {
      const dest = join(dir, `${name}.${exportFormat}`);
      await ok(['image', 'export', name, dest, '--format', exportFormat]);
      await ok(['image', 'import', dest, `${name}-again-${exportFormat}`, '--format', exportFormat]);
      assert.equal((await inspect(`${name}-again-${exportFormat}`)).digest, image.digest, `${format} → ${exportFormat} → import keeps the digest`);
    }
  }
  // Podman's OCI output keeps its manifest byte for byte: same digest as podman reports.
  const podmanDigest = sh('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${saved[2]![1]}`]).trim();
  assert.equal((await inspect('from-oci')).digest, podmanDigest);
  assert.equal((await ok(['store', 'verify'])).code, 0);
});

test('skopeo and umoci read the store; umoci unpacks what kiln stored with modes, links, devices and xattrs', async (t) => {
  const { dir, store, rootfs, ok, inspect } = await setup(t);
  await ok(['image', 'import', rootfs, 'node-img', '--label', 'walt.node.models=rpi-3-b']);
  const image = await inspect('node-img');
  const skopeo = JSON.parse(sh('skopeo', ['inspect', `oci:${store}:alice/node-img:latest`])) as { Digest: string; Labels: Record<string, string> };
  assert.equal(skopeo.Digest, image.digest);
  assert.equal(skopeo.Labels['walt.node.models'], 'rpi-3-b');
  assert.match(sh('umoci', ['ls', '--layout', store]), /^alice\/node-img:latest$/m);
  const bundle = join(dir, 'bundle');
  sh('umoci', ['unpack', '--image', `${store}:alice/node-img:latest`, bundle]);
  const rootDir = join(bundle, 'rootfs');
  assert.equal(readFileSync(join(rootDir, 'etc', 'marker'), 'utf8'), 'hello\n');
  assert.equal(statSync(join(rootDir, 'usr', 'bin', 'tool')).mode & 0o7777, 0o4755, 'setuid survives');
  assert.equal(statSync(join(rootDir, 'usr', 'bin', 'tool')).ino, statSync(join(rootDir, 'usr', 'bin', 'tool-hardlink')).ino, 'hardlink survives');
  assert.ok(lstatSync(join(rootDir, 'dev', 'null')).isCharacterDevice(), 'device node survives');
  assert.ok(lstatSync(join(rootDir, 'bin', 'tool')).isSymbolicLink());
  assert.match(sh('getfattr', ['-n', 'user.kiln', join(rootDir, 'etc', 'marker')]), /user\.kiln="yes"/);
  // skopeo copies out of the store into every transport and back in.
  const viaSkopeo = join(dir, 'skopeo-docker.tar');
  sh('skopeo', ['copy', `oci:${store}:alice/node-img:latest`, `docker-archive:${viaSkopeo}:someone/node-img:v1`]);
  await ok(['image', 'import', viaSkopeo]);
  const back = await inspect('node-img:v1');
  assert.equal(back.labels['walt.node.models'], 'rpi-3-b');
  assert.equal(back.config.rootfs.diff_ids[0], image.config.rootfs.diff_ids[0], 'same layer content');
  const ociArchive = join(dir, 'skopeo-oci.tar');
  sh('skopeo', ['copy', `oci:${store}:alice/node-img:latest`, `oci-archive:${ociArchive}:x`]);
  await ok(['image', 'import', ociArchive, 'from-skopeo-oci']);
  assert.equal((await inspect('from-skopeo-oci')).config.rootfs.diff_ids[0], image.config.rootfs.diff_ids[0]);
});

test('kiln exports load into podman and skopeo', async (t) => {
  const { dir, rootfs, kiln, ok, inspect } = await setup(t);
  await ok(['image', 'import', rootfs, 'shipped', '--label', 'walt.node.models=pc-x86-64']);
  const image = await inspect('shipped');
  const podman = podmanFor(dir);
  for (const format of ['docker-archive', 'oci-archive']) {
    const file = join(dir, `shipped.${format}`);
    await ok(['image', 'export', 'shipped', file, '--format', format]);
    assert.match(podman(['load', '-i', file]), /Loaded image/);
    const digest = sh('skopeo', ['inspect', '--format', '{{.Digest}} {{.Labels}}', `${format}:${file}`]).trim();
    assert.match(digest, /walt\.node\.models:pc-x86-64/);
  }
  const labels = podman(['image', 'inspect', '--format', '{{ index .Labels "walt.node.models" }}', 'localhost/alice/shipped:latest']).trim();
  assert.equal(labels, 'pc-x86-64');
  const layoutDir = join(dir, 'shipped.oci');
  await ok(['image', 'export', 'shipped', layoutDir, '--format', 'oci']);
  assert.equal(sh('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${layoutDir}:alice/shipped:latest`]).trim(), image.digest);
  const refused = await kiln(['image', 'export', 'shipped', layoutDir, '--format', 'oci']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /ALREADY_EXISTS/, 'an existing destination is not overwritten');
});

test('gzip and zstd rootfs tarballs keep their compression, xz and bzip2 are decompressed; the diff_id is the uncompressed digest', async (t) => {
  const { dir, root, ok, inspect } = await setup(t);
  const cases = [
    { compress: 'gzip' as const, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', decompress: gunzipSync },
    { compress: 'zstd' as const, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', decompress: zstdDecompressSync },
  ];
  for (const c of cases) {
    const file = tarDir(root, join(dir, `rootfs.tar.${c.compress}`), c.compress);
    await ok(['image', 'import', file, `z-${c.compress}`, '--label', 'walt.node.models=m', '--platform', 'linux/arm64/v8']);
    const image = await inspect(`z-${c.compress}`);
    assert.equal(image.manifest.layers[0]?.mediaType, c.mediaType);
    const raw = readFileSync(file);
    assert.equal(image.manifest.layers[0]?.digest, `sha256:${createHash('sha256').update(raw).digest('hex')}`);
    assert.equal(image.config.rootfs.diff_ids[0], `sha256:${createHash('sha256').update(c.decompress(raw)).digest('hex')}`);
    const shown = json<Array<{ platform: { architecture: string; variant: string } }>>(await ok(['image', 'show', '--json']));
    assert.ok(shown.some((s) => s.platform.architecture === 'arm64' && s.platform.variant === 'v8'));
    const out = join(dir, `z-${c.compress}.tar`);
    await ok(['image', 'export', `z-${c.compress}`, out, '--format', 'rootfs']);
    // The export is what Kiln's extractor made of the layer, packed again: the same members.
    // Which name of a hardlinked pair carries the data depends on the order of packing: compare modes, owners and names.
    const listing = (file: string): string => sh('tar', ['--numeric-owner', '-tvf', file]).split('\n')
      .map((l) => /^(\S+) (\S+) +\S+ \S+ \S+ (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${(m[1] ?? '').replace(/^h/, '-')} ${m[2]} ${(m[3] ?? '').replace(/ link to .*$/, '').replace(/^\.\//, '').replace(/\/$/, '')}`)
      .filter((l) => !/ \.?$/.test(l)).sort().join('\n');
    const layerTar = join(dir, `z-${c.compress}-layer.tar`);
    writeFileSync(layerTar, c.decompress(raw));
    assert.equal(listing(out), listing(layerTar), 'rootfs export has the layer\'s members, owners, modes and sizes');
    assert.equal(sh('tar', ['-xOf', out, './etc/marker']), sh('tar', ['-xOf', layerTar, './etc/marker']));
  }
  // xz and bzip2 cannot be OCI layers: they are stored decompressed.
  const plain = readFileSync(tarDir(root, join(dir, 'plain.tar')));
  for (const tool of ['xz', 'bzip2']) {
    const file = join(dir, `plain.tar.${tool}`);
    writeFileSync(file, execFileSync(tool, ['-c'], { input: plain }));
    await ok(['image', 'import', file, `z-${tool}`, '--label', 'walt.node.models=m']);
    const image = await inspect(`z-${tool}`);
    const digest = `sha256:${createHash('sha256').update(plain).digest('hex')}`;
    assert.equal(image.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.deepEqual([image.manifest.layers[0]?.digest, image.config.rootfs.diff_ids[0]], [digest, digest]);
  }
});

test('a multi-layer image with whiteouts exports as the merged root filesystem', async (t) => {
  const { dir, store, rootfs, ok } = await setup(t);
  await ok(['image', 'import', rootfs, 'base', '--label', 'walt.node.models=m']);
  // umoci makes a second layer: a deleted file (whiteout), a new file, a replaced directory.
  const layout = join(dir, 'layered');
  sh('skopeo', ['copy', `oci:${store}:alice/base:latest`, `oci:${layout}:base`]);
  const bundle = join(dir, 'bundle');
  sh('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  unlinkSync(join(bundle, 'rootfs', 'etc', 'marker'));
  writeFileSync(join(bundle, 'rootfs', 'etc', 'added'), 'layer 2\n');
  rmSync(join(bundle, 'rootfs', 'boot', 'rpi-3-b'), { recursive: true });
  mkdirSync(join(bundle, 'rootfs', 'boot', 'rpi-3-b'));
  writeFileSync(join(bundle, 'rootfs', 'boot', 'rpi-3-b', 'start.ipxe'), '#!ipxe\n');
  sh('umoci', ['repack', '--image', `${layout}:layered`, bundle]);
  await ok(['image', 'import', layout, 'layered', '--ref', 'layered']);
  const out = join(dir, 'merged.tar');
  await ok(['image', 'export', 'layered', out, '--format', 'rootfs']);
  const listing = sh('tar', ['-tf', out]).split('\n');
  assert.ok(listing.includes('./etc/added'));
  assert.ok(!listing.includes('./etc/marker'), 'the whiteout deleted etc/marker');
  assert.ok(!listing.some((l) => l.includes('.wh.')), 'no whiteout files in the merged tree');
  assert.ok(listing.includes('./boot/rpi-3-b/start.ipxe'));
  assert.ok(!listing.includes('./boot/rpi-3-b/start.uboot'), 'the replaced directory lost its old content');
  assert.match(tarListing(out), /crw-r--r-- 0\/0 .*1,\s*3 .* \.\/dev\/null\n/);
  assert.ok(!existsSync(join(dir, 'home', 'tmp', 'rootfs')), 'the work directory is gone');
});

test('Docker schema2 media types are accepted and stored as OCI', async (t) => {
  const { dir, ok, inspect, store } = await setup(t);
  const layout = join(dir, 'docker-types');
  const layer = await makeTar([{ name: 'etc/hostname', content: 'node\n' }]);
  const original = writeLayout(layout, [layer], { 'walt.node.models': 'pc-x86-64' }, 'someone/dockerish:v1', true);
  await ok(['image', 'import', layout]);
  const image = await inspect('dockerish:v1');
  assert.notEqual(image.digest, original, 'the manifest was rewritten');
  assert.equal(image.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  const raw = JSON.parse(readFileSync(join(store, 'blobs', 'sha256', image.digest.slice(7)), 'utf8')) as { mediaType: string; config: { mediaType: string } };
  assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(raw.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  assert.equal(image.labels['walt.node.models'], 'pc-x86-64');
  assert.equal(sh('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${store}:alice/dockerish:v1`]).trim(), image.digest);
});
