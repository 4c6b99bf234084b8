import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { applyLayer, resolveDirInRoot, type Descriptor } from '../../src/store/index.ts';
import { digestOf, isKilnError, type Digest } from '../../src/core/index.ts';
import { scratch, sh } from '../helpers.ts';
import { rawTar, type RawMember } from '../raw-tar.ts';

/** Applies raw layers to `root` in order with Kiln's extractor. */
async function apply(root: string, layers: RawMember[][], mode: 'merge' | 'overlay' = 'merge', gzip = false): Promise<void> {
  for (const members of layers) {
    const tar = rawTar(members);
    const bytes = gzip ? gzipSync(tar) : tar;
    const layer: Descriptor = { mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`, digest: digestOf(bytes) as Digest, size: bytes.length };
    await applyLayer(root, layer, () => Readable.from([bytes]), { mode });
  }
}

test('merge mode: whiteouts and opaque directories hide lower layers only; a non-directory replaces a directory', async (t) => {
  const root = join(scratch(t, 'kiln-extract'), 'root');
  mkdirSync(root);
  await apply(root, [
    [{ name: 'a/', type: 'directory' }, { name: 'a/old', content: 'old' }, { name: 'a/keep', content: 'keep' }, { name: 'b/', type: 'directory' }, { name: 'b/x', content: 'x' }, { name: 'c/', type: 'directory' }, { name: 'c/deep', content: 'd' }],
    // The opaque marker comes after a/new in the tar: a/new still survives (it is this layer's).
    [{ name: 'a/new', content: 'new' }, { name: 'a/.wh..wh..opq' }, { name: 'b/.wh.x' }, { name: 'c', content: 'now a file' }],
  ], 'merge', true);
  assert.ok(existsSync(join(root, 'a/new')));
  assert.ok(!existsSync(join(root, 'a/old')) && !existsSync(join(root, 'a/keep')), 'opaque hid the lower entries');
  assert.ok(!existsSync(join(root, 'b/x')) && existsSync(join(root, 'b')), 'whiteout removed b/x only');
  assert.equal(readFileSync(join(root, 'c'), 'utf8'), 'now a file');
  assert.ok(!existsSync(join(root, 'b/.wh.x')), 'whiteout files are not extracted');
});

test('owners, modes, setuid, times, symlinks, hardlinks, devices, FIFOs and xattrs are kept', async (t) => {
  const root = join(scratch(t, 'kiln-extract'), 'root');
  mkdirSync(root);
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex').toString('latin1');
  await apply(root, [[
    { name: 'bin/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
    { name: 'bin/tool', content: 'tool', mode: 0o4755, uid: 1000, gid: 1000, pax: { 'SCHILY.xattr.security.capability': cap, 'SCHILY.xattr.user.note': 'héllo' } },
    { name: 'bin/again', type: 'hardlink', linkname: 'bin/tool' },
    { name: 'bin/link', type: 'symlink', linkname: '/bin/tool', uid: 5, gid: 6 },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'run/', type: 'directory' },
    { name: 'run/pipe', type: 'fifo', mode: 0o600 },
    { name: 'srv/', type: 'directory', mode: 0o770, pax: { 'SCHILY.acl.access': 'user::rwx,user:1000:r-x,group::rwx,mask::rwx,other::---', 'SCHILY.acl.default': 'user::rwx\ngroup::r-x\nother::---\n' } },
  ]]);
  const tool = statSync(join(root, 'bin/tool'));
  assert.equal(tool.mode & 0o7777, 0o4755);
  assert.deepEqual([tool.uid, tool.gid], [1000, 1000]);
  assert.equal(Math.floor(tool.mtimeMs / 1000), 1_700_000_000);
  assert.equal(statSync(join(root, 'bin')).mode & 0o7777, 0o750);
  assert.equal(Math.floor(statSync(join(root, 'bin')).mtimeMs / 1000), 1_700_000_000, 'directory times are set last');
  assert.equal(statSync(join(root, 'bin/again')).ino, tool.ino);
  assert.equal(readlinkSync(join(root, 'bin/link')), '/bin/tool');
  assert.deepEqual([lstatSync(join(root, 'bin/link')).uid, lstatSync(join(root, 'bin/link')).gid], [5, 6]);
  assert.ok(statSync(join(root, 'dev/null')).isCharacterDevice());
  assert.equal(statSync(join(root, 'dev/null')).rdev, statSync('/dev/null').rdev);
  assert.ok(statSync(join(root, 'dev/sda')).isBlockDevice());
  assert.equal(statSync(join(root, 'dev/sda')).gid, 6);
  assert.ok(statSync(join(root, 'run/pipe')).isFIFO());
  assert.match(sh('getcap', [join(root, 'bin/tool')]), /cap_net_raw[=+]ep/);
  assert.match(sh('getfattr', ['-n', 'user.note', '--only-values', join(root, 'bin/tool')]), /^héllo$/);
  const acl = sh('getfacl', ['-n', '-p', join(root, 'srv')]);
  assert.match(acl, /^user:1000:r-x$/m, 'access ACL');
  assert.match(acl, /^default:group::r-x$/m, 'default ACL');
});

test('overlay mode: whiteouts become 0:0 character devices and opaque directories get trusted.overlay.opaque; layer overlay xattrs are dropped', async (t) => {
  const root = join(scratch(t, 'kiln-extract'), 'root');
  mkdirSync(root);
  await apply(root, [[
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.gone' },
    { name: 'opt/.wh..wh..opq' },
    { name: 'var/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
  ]], 'overlay');
  const gone = statSync(join(root, 'etc/gone'));
  assert.ok(gone.isCharacterDevice() && gone.rdev === 0);
  assert.match(sh('getfattr', ['-n', 'trusted.overlay.opaque', '--only-values', join(root, 'opt')]), /^y$/);
  assert.doesNotMatch(sh('getfattr', ['-d', '-m', '-', join(root, 'var')]), /redirect/);
});

test('resolveDirInRoot: absolute links restart at the root, ".." stops there, loops are refused, missing directories are made inside', async (t) => {
  const root = join(scratch(t, 'kiln-extract'), 'root');
  mkdirSync(root);
  await apply(root, [[
    { name: 'usr/', type: 'directory' }, { name: 'usr/lib/', type: 'directory' },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'abs', type: 'symlink', linkname: '/usr' },
    { name: 'up', type: 'symlink', linkname: '../../../../usr' },
    { name: 'host', type: 'symlink', linkname: '/nonexistent/host/dir' },
    { name: 'loop', type: 'symlink', linkname: 'loop' },
  ]]);
  assert.equal(resolveDirInRoot(root, 'lib', false), join(root, 'usr/lib'));
  assert.equal(resolveDirInRoot(root, 'abs/lib', false), join(root, 'usr/lib'));
  assert.equal(resolveDirInRoot(root, 'up/lib', false), join(root, 'usr/lib'));
  assert.equal(resolveDirInRoot(root, '../../..', false), root);
  assert.equal(resolveDirInRoot(root, 'host', false), undefined);
  assert.equal(resolveDirInRoot(root, 'host', true), join(root, 'nonexistent/host/dir'));
  assert.ok(lstatSync(join(root, 'nonexistent/host/dir')).isDirectory());
  assert.throws(() => resolveDirInRoot(root, 'loop/x', true), /symlink loop/);
});

test('a whiteout of "." or ".." is refused in both modes and removes nothing', async (t) => {
  const dir = scratch(t, 'kiln-extract');
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(dir, 'sibling'), 'outside\n');
  await apply(root, [[{ name: 'etc/', type: 'directory' }, { name: 'etc/x', content: 'x' }]]);
  for (const mode of ['merge', 'overlay'] as const) {
    for (const name of ['.wh...', 'etc/.wh...', 'etc/.wh..', '.wh.']) {
      await assert.rejects(apply(root, [[{ name }]], mode), (e) => isKilnError(e, 'UNSAFE_PATH'), `${mode} ${name}`);
    }
  }
  assert.equal(readFileSync(join(dir, 'sibling'), 'utf8'), 'outside\n');
  assert.equal(readFileSync(join(root, 'etc/x'), 'utf8'), 'x');
});
