import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch, sh } from '../helpers.ts';
import { describeTree } from './export-support.ts';

test('Kiln\'s SquashFS writer holds what mksquashfs makes of the same root: modes, owners, contents, symlinks, hardlinks, devices, FIFOs, xattrs', async (t) => {
  const dir = scratch(t);
  const kiln = kilnFor(join(dir, 'home'));
  const src = join(dir, 'src');
  mkdirSync(join(src, 'etc/deep/er'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'run', 'empty']) mkdirSync(join(src, d));
  writeFileSync(join(src, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
  writeFileSync(join(src, 'etc/big'), Buffer.concat(Array.from({ length: 40 }, (_, i) => createHash('sha512').update(String(i)).digest()).map((b) => Buffer.concat(Array(200).fill(b)))));
  writeFileSync(join(src, 'etc/empty-file'), '');
  for (let i = 0; i < 2000; i++) writeFileSync(join(src, 'etc/deep/er', `f${i}`), `file ${i % 7}\n`);
  sh('sh', ['-e', '-c', [
    `cd ${src}`, 'ln etc/big etc/big-hardlink', 'ln -s ../etc/big etc/symlink', 'ln -s /nowhere dangling',
    'mknod dev/null c 1 3', 'mknod dev/sdq b 8 300', 'mkfifo run/fifo', 'chmod 4755 etc/big', 'chmod 1777 empty',
    'chown 1000:1001 etc/deep', 'chown -h 7:8 etc/symlink', 'setfattr -n user.kiln -v yes etc/os-release',
    'setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 etc/empty-file', 'setfattr -n user.dir -v 1 etc/deep',
  ].join('\n')]);
  const tarball = join(dir, 'rootfs.tar');
  sh('tar', ['-C', src, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tarball, '.']);
  const r = await kiln(['image', 'import', tarball, 'sq:1', '--platform', 'linux/amd64']);
  assert.equal(r.code, 0, r.stderr);
  const out = join(dir, 'out');
  const e = await kiln(['image', 'export', 'sq:1', out, '--format', 'squashfs', '--layout', 'kiln']);
  assert.equal(e.code, 0, e.stderr);
  const ours = join(out, 'sq/1/amd64/rootfs.squashfs');
  const reference = join(dir, 'reference.squashfs');
  sh('mksquashfs', [src, reference, '-noappend', '-comp', 'gzip', '-quiet', '-no-progress']);
  sh('unsquashfs', ['-n', '-d', join(dir, 'a'), ours]);
  sh('unsquashfs', ['-n', '-d', join(dir, 'b'), reference]);
  const expected = describeTree(join(dir, 'b'));
  assert.deepEqual(describeTree(join(dir, 'a')), expected);
  // The kernel reads it too (what a booting node does): mounted read-only through a loop device.
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  sh('mount', ['-t', 'squashfs', '-o', 'loop,ro', ours, mnt]);
  try {
    const seen = describeTree(mnt);
    assert.deepEqual(Object.keys(seen), Object.keys(expected));
    for (const [path, what] of Object.entries(seen)) assert.equal(what, expected[path], path);
  } finally {
    sh('umount', [mnt]);
  }
  // The kernel's view is what boots: `unsquashfs -s` reads the superblock as the kernel does.
  assert.match(sh('unsquashfs', ['-s', ours]), /Compression gzip[\s\S]*Block size 131072/);
});
