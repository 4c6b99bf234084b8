import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKilnError } from './errors.ts';
import { mkdirInRoot, removeInRoot, resolveInRoot, writeFileInRoot } from './in-root.ts';

/** A scratch image root with a host directory beside it that no link may reach. */
function fixture(t: { after: (fn: () => void) => void }): { root: string; host: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-in-root-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const host = join(dir, 'host');
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  mkdirSync(join(root, 'run', 'systemd'), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(root, 'usr', 'lib', 'os-release'), 'ID=test\n');
  return { root, host };
}

test('resolveInRoot keeps every symlink of the image inside its root', async (t) => {
  const { root, host } = fixture(t);
  const link = (target: string, name: string): void => symlinkSync(target, join(root, name));
  link(host, 'abs'); // absolute: restarts at the root, so <root><host>
  link('../../../../..', 'up'); // ".." above the root stops at the root
  link('/usr/lib', 'lib'); // absolute, inside
  link('lib', 'chain1'); // chain: chain1 -> lib -> /usr/lib
  link('chain1', 'chain2');
  link('loop-b', 'loop-a'); // loop
  link('loop-a', 'loop-b');
  link('/nowhere/at/all', 'dangling');
  link('../run/systemd/resolve/stub-resolv.conf', 'usr/resolv.conf'); // the systemd-resolved layout
  const cases: Array<[string, string, boolean, number]> = [
    // path, rel, exists, links
    ['/usr/lib/os-release', 'usr/lib/os-release', true, 0],
    ['usr/lib/../lib/./os-release', 'usr/lib/os-release', true, 0],
    ['/abs/resolv.conf', `${host.slice(1)}/resolv.conf`, false, 1],
    ['/up/etc/shadow', 'etc/shadow', false, 1],
    ['/../../etc', 'etc', false, 0],
    ['/lib/os-release', 'usr/lib/os-release', true, 1],
    ['/chain2/os-release', 'usr/lib/os-release', true, 3],
    ['/dangling', 'nowhere/at/all', false, 1],
    ['/dangling/../x', 'nowhere/at/x', false, 1],
    ['/usr/resolv.conf', 'run/systemd/resolve/stub-resolv.conf', false, 1],
    ['/', '', true, 0],
  ];
  for (const [path, rel, exists, links] of cases) {
    const got = await resolveInRoot(root, path);
    assert.deepEqual(got, { rel, host: rel === '' ? root : join(root, rel), exists, links }, path);
  }
  const notLast = await resolveInRoot(root, '/lib', { followLast: false });
  assert.deepEqual([notLast.rel, notLast.exists, notLast.links], ['lib', true, 0], 'followLast: false names the link itself');
  await assert.rejects(resolveInRoot(root, '/loop-a/x'), (err: unknown) => isKilnError(err) && err.code === 'UNSAFE_PATH' && /symlink loop/.test(err.message));
});

test('writing, creating and removing in the root never touch the host through a link', async (t) => {
  const { root, host } = fixture(t);
  symlinkSync(host, join(root, 'etc'));
  symlinkSync(`../../../..${host}`, join(root, 'var'));
  symlinkSync(join(host, 'victim'), join(root, 'victim-link'));
  writeFileSync(join(host, 'victim'), 'host\n');

  const written = await writeFileInRoot(root, '/etc/yum.repos.d/a.repo', '[a]\n');
  assert.equal(written.rel, `${host.slice(1)}/yum.repos.d/a.repo`);
  assert.equal(readFileSync(written.host, 'utf8'), '[a]\n');
  await mkdirInRoot(root, '/var/.kiln-ansible');
  assert.ok(existsSync(join(root, host.slice(1), '.kiln-ansible')));
  await writeFileInRoot(root, '/victim-link', 'image\n');
  assert.deepEqual(readdirSync(host), ['victim'], 'nothing created on the host');
  assert.equal(readFileSync(join(host, 'victim'), 'utf8'), 'host\n', 'the host file is untouched');

  writeFileSync(join(host, '.kiln-ansible'), 'host\n');
  await removeInRoot(root, '/var/.kiln-ansible', { recursive: true });
  await removeInRoot(root, '/victim-link');
  assert.ok(existsSync(join(host, '.kiln-ansible')) && existsSync(join(host, 'victim')), 'removal stays in the root');
  assert.ok(!existsSync(join(root, 'victim-link')), 'the link itself is removed');
  await removeInRoot(root, '/no/such/file');
  await assert.rejects(removeInRoot(root, '/up/..'), (err: unknown) => isKilnError(err) && err.code === 'UNSAFE_PATH');
});
