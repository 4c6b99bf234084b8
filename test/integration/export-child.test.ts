import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch, sh } from '../helpers.ts';
import { describeTree } from './export-support.ts';

const LEVEL_DIR = 'gzip-6-131072';

/** Deterministic bytes that compress a little, like program files. */
function bytes(seed: string, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 64 < size; i++) parts.push(createHash('sha512').update(`${seed}${i % 97}`).digest());
  return Buffer.concat(parts).subarray(0, size);
}

/** Files under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * A parent image (one layer: multi-block files, small files with equal content, a device, links,
 * os-release) and a child made from it with umoci (a second layer: new files, a changed and a
 * deleted file of the parent's), imported into `home`; returns the child's root for reference.
 */
async function makeImages(dir: string, home: string): Promise<{ childRoot: string; parentBlob: string }> {
  const kiln = kilnFor(home);
  const src = join(dir, 'parent');
  for (const d of ['etc', 'usr/lib', 'usr/bin', 'proc', 'sys', 'dev', 'run']) mkdirSync(join(src, d), { recursive: true });
  writeFileSync(join(src, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
  writeFileSync(join(src, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  for (let i = 0; i < 12; i++) writeFileSync(join(src, 'usr/lib', `lib${i}.so`), bytes(`lib${i}`, 40_000 + i * 70_000));
  for (let i = 0; i < 300; i++) writeFileSync(join(src, 'usr/bin', `tool${i}`), `#!/bin/sh\necho ${i % 5}\n`);
  writeFileSync(join(src, 'usr/lib/gone.so'), bytes('gone', 200_000));
  sh('sh', ['-e', '-c', `cd ${src} && mknod dev/null c 1 3 && ln -s ../usr/lib/lib1.so usr/bin/link && ln usr/lib/lib2.so usr/lib/lib2-hard.so`]);
  const tarball = join(dir, 'parent.tar');
  sh('tar', ['-C', src, '--numeric-owner', '-cf', tarball, '.']);
  const blobs = join(home, 'store/blobs/sha256');
  let r = await kiln(['image', 'import', tarball, 'parent:1', '--platform', 'linux/amd64']);
  assert.equal(r.code, 0, r.stderr);
  const parentBlob = readdirSync(blobs).map((n) => join(blobs, n)).sort((a, b) => statSync(b).size - statSync(a).size)[0] as string;
  r = await kiln(['image', 'export', 'parent:1', join(dir, 'parent.oci.tar'), '--format', 'oci-archive']);
  assert.equal(r.code, 0, r.stderr);
  const oci = join(dir, 'oci');
  mkdirSync(oci);
  sh('tar', ['-xf', join(dir, 'parent.oci.tar'), '-C', oci]);
  const tag = sh('umoci', ['ls', '--layout', oci]).trim().split('\n')[0] as string;
  const bundle = join(dir, 'bundle');
  sh('umoci', ['unpack', '--image', `${oci}:${tag}`, bundle]);
  const root = join(bundle, 'rootfs');
  appendFileSync(join(root, 'etc/passwd'), 'debug:x:1001:1001::/home/debug:/bin/sh\n');
  rmSync(join(root, 'usr/lib/gone.so'));
  mkdirSync(join(root, 'opt/pkgs'), { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(root, 'opt/pkgs', `mod${i}.py`), bytes(`mod${i}`, 3000 + i * 90_000));
  sh('umoci', ['repack', '--image', `${oci}:child`, bundle]);
  r = await kiln(['image', 'import', oci, 'child:1', '--ref', 'child', '--label', 'walt.node.models=pc-x86-64']);
  assert.equal(r.code, 0, r.stderr);
  return { childRoot: root, parentBlob };
}

test('a child image\'s SquashFS export after its parent\'s reads none of the parent\'s layers, and is the same file a cold export makes', async (t) => {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const { childRoot, parentBlob } = await makeImages(dir, home);
  let r = await kiln(['image', 'export', 'parent:1', join(dir, 'out-parent'), '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(r.code, 0, r.stderr);

  // A cold export of the child, in a copy of the store with an empty export cache: the reference file.
  const coldHome = join(dir, 'cold');
  sh('cp', ['-a', home, coldHome]);
  rmSync(join(coldHome, 'cache/export'), { recursive: true });
  r = await kilnFor(coldHome)(['image', 'export', 'child:1', join(dir, 'out-cold'), '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(r.code, 0, r.stderr);

  // The parent's layer blob out of reach: an export that opened it would fail.
  rmSync(parentBlob);
  r = await kiln(['image', 'export', 'child:1', join(dir, 'out-child'), '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(r.code, 0, r.stderr);
  const ours = join(dir, 'out-child/child/1/amd64/rootfs.squashfs');
  assert.ok(readFileSync(ours).equals(readFileSync(join(dir, 'out-cold/child/1/amd64/rootfs.squashfs'))), 'the same bytes as a cold export');
  const reference = join(dir, 'reference.squashfs');
  sh('mksquashfs', [childRoot, reference, '-noappend', '-comp', 'gzip', '-quiet', '-no-progress']);
  sh('unsquashfs', ['-n', '-d', join(dir, 'a'), ours]);
  sh('unsquashfs', ['-n', '-d', join(dir, 'b'), reference]);
  assert.deepEqual(describeTree(join(dir, 'a')), describeTree(join(dir, 'b')));
});

test('kiln store gc drops the layer records and block packs of images removed; export_block_cache_size bounds the packs', async (t) => {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  await makeImages(dir, home);
  const cache = join(home, 'cache/export');
  const records = join(cache, `squashfs-layers-${LEVEL_DIR}`);
  const packs = join(cache, `squashfs-packs-${LEVEL_DIR}`);
  const packFiles = (): string[] => filesUnder(packs).filter((f) => f.endsWith('.pack'));
  let r = await kiln(['image', 'export', 'parent:1', join(dir, 'out'), '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(r.code, 0, r.stderr);
  r = await kiln(['image', 'export', 'child:1', join(dir, 'out'), '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readdirSync(records).length, 2);
  // Each export keeps its image as a pack (a hard link of the exported file, with an index of its blocks).
  assert.equal(packFiles().length, 2);
  assert.ok(packFiles().every((f) => statSync(f).nlink >= 2), 'a pack is the export cache\'s own file, not a copy');

  r = await kiln(['image', 'remove', 'child:1']);
  assert.equal(r.code, 0, r.stderr);
  r = await kiln(['store', 'gc']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readdirSync(records).length, 1, 'the child layer\'s record went, the parent\'s stays');
  // The parent's blocks are in both packs; the newer (the child's) serves them, so the older one went.
  assert.equal(packFiles().length, 1);

  r = await kiln(['image', 'remove', 'parent:1']);
  assert.equal(r.code, 0, r.stderr);
  r = await kiln(['store', 'gc']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(filesUnder(records), []);
  assert.deepEqual(filesUnder(packs), []);

  // The bound: a tiny block cache keeps no pack, and later exports still make the right file.
  const small = join(dir, 'small');
  const { childRoot: root2 } = await makeImages(join(dir, 'w2'), small);
  const env = { KILN_EXPORT_BLOCK_CACHE_SIZE: '64K' };
  r = await kilnFor(small)(['image', 'export', 'parent:1', join(dir, 'o1'), '--format', 'squashfs', '--layout', 'kiln'], env);
  assert.equal(r.code, 0, r.stderr);
  const size = filesUnder(join(small, `cache/export/squashfs-packs-${LEVEL_DIR}`)).reduce((s, f) => s + statSync(f).size, 0);
  assert.ok(size <= 64 << 10, `${size} bytes of packs kept`);
  r = await kilnFor(small)(['image', 'export', 'child:1', join(dir, 'o2'), '--format', 'squashfs', '--layout', 'kiln'], env);
  assert.equal(r.code, 0, r.stderr);
  sh('unsquashfs', ['-n', '-d', join(dir, 'c'), join(dir, 'o2/child/1/amd64/rootfs.squashfs')]);
  sh('mksquashfs', [root2, join(dir, 'ref.squashfs'), '-noappend', '-quiet', '-no-progress']);
  sh('unsquashfs', ['-n', '-d', join(dir, 'd'), join(dir, 'ref.squashfs')]);
  assert.deepEqual(describeTree(join(dir, 'c')), describeTree(join(dir, 'd')));
});
