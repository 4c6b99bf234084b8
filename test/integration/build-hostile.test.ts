import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch, sh, tarDir } from '../helpers.ts';

/** A parent image root that runs: a static busybox as /bin/sh, plus what `hostile` adds (links out of the root). */
function hostileRoot(dir: string, name: string, hostile: (root: string) => void): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(sh('sh', ['-c', 'command -v busybox']).trim(), join(root, 'bin', 'busybox'));
  sh('chmod', ['755', join(root, 'bin', 'busybox')]);
  for (const tool of ['sh', 'echo', 'cat', 'mkdir', 'cp', 'chmod']) symlinkSync('busybox', join(root, 'bin', tool));
  hostile(root);
  return tarDir(root, join(dir, `${name}.tar`));
}

test('a parent image whose symlinks lead to host directories: nothing the build sets up is created on the host', async (t) => {
  const dir = scratch(t, 'kiln-hostile');
  const kiln = kilnFor(join(dir, 'home'), 'builder');
  const canary = join(dir, 'canary');
  mkdirSync(canary);
  const up = '../../../../../../../../../..';
  const parents: Record<string, (root: string) => void> = {
    // etc (where resolv.conf is bound) and the mount points of /dev, /proc and /tmp (with the copy binds) lead to the host directory.
    abs: (root) => {
      symlinkSync(canary, join(root, 'etc'));
      symlinkSync(canary, join(root, 'dev'));
    },
    rel: (root) => {
      symlinkSync(`${up}${canary}`, join(root, 'etc'));
      symlinkSync(`${up}${canary}`, join(root, 'proc'));
    },
    // bwrap keeps the host's root at /oldroot while it sets the sandbox up.
    oldroot: (root) => {
      symlinkSync(`/oldroot${canary}`, join(root, 'etc'));
      symlinkSync(`/oldroot${canary}`, join(root, 'tmp'));
    },
    leaf: (root) => {
      mkdirSync(join(root, 'etc'));
      symlinkSync(`/oldroot${canary}/resolv.conf`, join(root, 'etc', 'resolv.conf'));
    },
  };
  mkdirSync(join(dir, 'specs'));
  for (const [name, hostile] of Object.entries(parents)) {
    const tar = hostileRoot(dir, `root-${name}`, hostile);
    const imported = await kiln(['image', 'import', tar, `hostile-${name}`, '--format', 'rootfs']);
    assert.equal(imported.code, 0, imported.stderr);
    const spec = join(dir, 'specs', `${name}.yaml`);
    // An apt repos step: its input is bound under /tmp and copied into /etc/apt, through the image's links.
    writeFileSync(spec, `options:\n  name: child-${name}\n  parent: hostile-${name}\n  pkg_manager: apt\nrepos:\n  - alias: local\n    url: http://127.0.0.1:9/debian\ncmds:\n  - cmd: 'mkdir -p /srv; echo ran > /srv/ran'\n`);
    const built = await kiln(['image', 'build', spec]);
    assert.equal(built.code, 0, `${name}: ${built.stderr}`);
    assert.deepEqual(readdirSync(canary), [], `${name}: nothing was created in the host directory`);

    // The image's paths resolve inside it: the steps ran, and the layers have no mount point left.
    const rootfs = join(dir, `child-${name}.tar`);
    assert.equal((await kiln(['image', 'export', `child-${name}`, rootfs, '--format', 'rootfs'])).code, 0);
    const listing = sh('tar', ['-tf', rootfs]);
    assert.match(listing, /srv\/ran$/m, name);
    assert.doesNotMatch(listing, new RegExp(`${canary}/resolv\\.conf$`, 'm'), `${name}: the resolv.conf mount point is not in the image`);
  }

  // An rpm repos step writes its .repo file with Kiln's own hands: inside the root, too.
  const rpmSpec = join(dir, 'specs', 'repos.yaml');
  writeFileSync(rpmSpec, `options:\n  name: child-repos\n  parent: hostile-oldroot\n  pkg_manager: dnf\nrepos:\n  - alias: local\n    url: http://127.0.0.1:9/repo\n`);
  const repos = await kiln(['image', 'build', rpmSpec]);
  assert.equal(repos.code, 0, repos.stderr);
  assert.deepEqual(readdirSync(canary), [], 'the .repo file was not written on the host');
  const rootfs = join(dir, 'child-repos.tar');
  assert.equal((await kiln(['image', 'export', 'child-repos', rootfs, '--format', 'rootfs'])).code, 0);
  assert.match(sh('tar', ['-tf', rootfs]), new RegExp(`oldroot${canary}/yum\\.repos\\.d/local\\.repo$`, 'm'), 'it is where the link leads inside the image');
});
