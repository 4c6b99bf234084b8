import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportedRoot, listTree } from '../dockerfile-support.ts';
import { json, kilnFor, scratch, sh } from '../helpers.ts';
import { busyboxRoot, importRoot, kilnOnTerminal, mountsUnder } from '../image-edit.ts';

const layersOf = async (kiln: ReturnType<typeof kilnFor>, name: string): Promise<number> =>
  json<{ manifest: { layers: unknown[] } }>(await kiln(['image', 'inspect', name, '--json'])).manifest.layers.length;

/** Every entry of an image's root filesystem: path, mode, owner, link target or content hash. */
const fileList = async (dir: string, kiln: ReturnType<typeof kilnFor>, name: string): Promise<string[]> => listTree(await exportedRoot(kiln, dir, name));

test('image cp host → image → host keeps modes, owners, symlinks and xattrs; one new layer per write; a directory target receives the entry', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-cp');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  await importRoot(kiln, dir, busyboxRoot(dir), 'img');
  const src = join(dir, 'payload');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'sub', 'secret'), 'top secret\n');
  chmodSync(join(src, 'sub', 'secret'), 0o640);
  sh('chown', ['1234:5678', join(src, 'sub', 'secret')]);
  sh('setfattr', ['-n', 'user.kiln', '-v', 'kept', join(src, 'sub', 'secret')]);
  symlinkSync('/etc/os-release', join(src, 'link'));
  const before = await layersOf(kiln, 'img');

  const put = await kiln(['image', 'cp', src, 'img:/root']);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(await layersOf(kiln, 'img'), before + 1);

  const back = join(dir, 'back');
  const get = await kiln(['image', 'cp', 'img:/root/payload', back]);
  assert.equal(get.code, 0, get.stderr);
  const st = lstatSync(join(back, 'sub', 'secret'));
  assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o640, 1234, 5678]);
  assert.equal(readFileSync(join(back, 'sub', 'secret'), 'utf8'), 'top secret\n');
  assert.match(sh('getfattr', ['-n', 'user.kiln', '--only-values', join(back, 'sub', 'secret')]), /^kept$/);
  assert.equal(readlinkSync(join(back, 'link')), '/etc/os-release', 'a symlink is copied as a symlink');
  assert.deepEqual(mountsUnder(home), []);
});

test('image cp resolves paths in the image against its root: an absolute symlink of the image leads inside it, both ways', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-cp-link');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const root = busyboxRoot(dir);
  mkdirSync(join(root, 'data'));
  // /srv -> /data: absolute, so on the host it would name the host's /data.
  symlinkSync('/data', join(root, 'srv'));
  writeFileSync(join(root, 'data', 'inside'), 'in the image\n');
  await importRoot(kiln, dir, root, 'img');

  writeFileSync(join(dir, 'note'), 'copied\n');
  assert.equal((await kiln(['image', 'cp', join(dir, 'note'), 'img:/srv/'])).code, 0);
  const out = join(dir, 'out');
  mkdirSync(out);
  assert.equal((await kiln(['image', 'cp', 'img:/data/note', out])).code, 0, 'the file went to the image\'s /data, where /srv leads');
  assert.equal(readFileSync(join(out, 'note'), 'utf8'), 'copied\n');
  assert.equal((await kiln(['image', 'cp', 'img:/srv/inside', join(out, 'inside')])).code, 0);
  assert.equal(readFileSync(join(out, 'inside'), 'utf8'), 'in the image\n');
  assert.equal(existsSync('/data/note'), false);
});

test('image cp image → image: the file lands in the destination image with its mode, as one layer', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-cp-ii');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const root = busyboxRoot(dir, 'a');
  writeFileSync(join(root, 'etc', 'only-in-a'), 'from a\n', { mode: 0o600 });
  await importRoot(kiln, dir, root, 'a');
  await importRoot(kiln, dir, busyboxRoot(dir, 'b'), 'b');
  const before = await layersOf(kiln, 'b');
  const r = await kiln(['image', 'cp', 'a:/etc/only-in-a', 'b:/root/renamed']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await layersOf(kiln, 'b'), before + 1);
  const out = join(dir, 'x');
  assert.equal((await kiln(['image', 'cp', 'b:/root/renamed', out])).code, 0);
  assert.equal(readFileSync(out, 'utf8'), 'from a\n');
  assert.equal(lstatSync(out).mode & 0o777, 0o600);
});

test('hostile image: /tmp -> / and a destination parent linked to a host path; cp writes inside the image, never on the host', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-cp-hostile');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const victim = join(dir, 'host-victim');
  mkdirSync(victim);
  const root = busyboxRoot(dir);
  sh('rm', ['-rf', join(root, 'tmp')]);
  symlinkSync('/', join(root, 'tmp'));
  symlinkSync(victim, join(root, 'escape'));
  symlinkSync('../../../../../../..' + victim, join(root, 'dotdot'));
  await importRoot(kiln, dir, root, 'evil');

  writeFileSync(join(dir, 'f'), 'payload\n');
  for (const dest of ['evil:/tmp/f1', 'evil:/escape/f2', 'evil:/dotdot/f3']) {
    const r = await kiln(['image', 'cp', join(dir, 'f'), dest]);
    assert.notEqual(r.stderr.includes('internal error'), true, r.stderr);
  }
  assert.deepEqual(readdirSync(victim), [], 'nothing was written through a symlink of the image to the host');
  assert.equal(existsSync('/f1'), false);
  const out = join(dir, 'out');
  mkdirSync(out);
  assert.equal((await kiln(['image', 'cp', 'evil:/f1', out])).code, 0, '/tmp/f1 is the image\'s /f1');
  assert.equal(readFileSync(join(out, 'f1'), 'utf8'), 'payload\n');
});

test('image squash: one layer, the same files (paths, modes, owners, symlinks, contents, deletions)', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-squash');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const root = busyboxRoot(dir);
  writeFileSync(join(root, 'etc', 'gone'), 'removed later\n');
  await importRoot(kiln, dir, root, 'img');
  writeFileSync(join(dir, 'added'), 'added\n', { mode: 0o751 });
  sh('chown', ['7:8', join(dir, 'added')]);
  assert.equal((await kiln(['image', 'cp', join(dir, 'added'), 'img:/etc/'])).code, 0);
  assert.equal((await kiln(['image', 'cp', join(dir, 'added'), 'img:/root/again'])).code, 0);
  // A deletion in a later layer (a whiteout) must stay deleted in the squashed image.
  const term = kilnOnTerminal(t, home, ['image', 'shell', 'img', '--overwrite']);
  await term.waitFor(/\/ # /);
  term.type('rm /etc/gone; exit\n');
  assert.equal(await term.exited, 0, term.output());
  assert.ok((await layersOf(kiln, 'img')) >= 4);
  const before = await fileList(dir, kiln, 'img');

  const r = await kiln(['image', 'squash', 'img']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await layersOf(kiln, 'img'), 1);
  const after = await fileList(dir, kiln, 'img');
  assert.deepEqual(after, before);
  assert.equal(after.some((row) => row.startsWith('etc/gone ')), false);
});
