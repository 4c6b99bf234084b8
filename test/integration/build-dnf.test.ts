import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, scratch, sh } from '../helpers.ts';
import { makeRpmRepo, type TestRpm } from '../build-rpm.ts';

interface Built {
  images: string[];
  digest?: string;
  steps: Array<{ name: string; cached: boolean; layer?: string }>;
}

const RPMS: TestRpm[] = [
  { name: 'kiln-hello', files: { '/usr/share/kiln-test/hello.txt': 'hello from rpm\n', '/usr/bin/kiln-hello': '#!/bin/sh\necho hello\n' } },
  { name: 'kiln-extra', version: '2.1', files: { '/usr/share/kiln-test/extra.txt': 'extra\n' } },
  // A shell, so that cmds can run in the image (a static busybox from the host).
  { name: 'kiln-sh', files: { '/bin/sh': { copy: '/bin/busybox' } } },
];

function baseSpec(repo: string): string {
  return `options:
  layer_type: 'base'
  name: 'rpm-base'
  publish_tags: '9.5'
  pkg_manager: 'dnf'
  parent: 'scratch'
  releasever: '9'
repos:
  - alias: 'Kiln_Local'
    url: 'file://${repo}'
packages:
  - kiln-hello
  - kiln-sh
`;
}

const CHILD = `options:
  name: 'rpm-child'
  publish_tags: ['v1']
  pkg_manager: 'dnf'
  parent: 'rpm-base:9.5'
packages: [kiln-extra]
remove_packages: [kiln-hello]
cmds:
  - cmd: 'echo child > /etc/kiln-child'
`;

test('dnf: a scratch layer installed into an empty root from a local RPM repository, and a child layer that adds and removes packages', async (t) => {
  const dir = scratch(t, 'kiln-dnf');
  const repo = makeRpmRepo(join(dir, 'rpms'), RPMS);
  const kiln = kilnFor(join(dir, 'home'), 'builder');
  const base = join(dir, 'base.yaml');
  const child = join(dir, 'child.yaml');
  writeFileSync(base, baseSpec(repo));
  writeFileSync(child, CHILD);

  const first = await kiln(['image', 'build', base, child, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const [b1, c1] = json<Built[]>(first);
  assert.deepEqual(b1?.steps.map((s) => s.name), ['repos: Kiln_Local', 'packages: kiln-hello kiln-sh'], 'no bootstrap step: dnf installs into the empty root');
  assert.deepEqual(c1?.steps.map((s) => [s.name.split(':')[0], s.cached]), [['packages', false], ['remove_packages', false], ['cmds[0]', false]]);

  // The base: the package's files, the repo file, and an rpm database where the image's rpm looks for it.
  const baseTar = join(dir, 'base.tar');
  const exportedBase = await kiln(['image', 'export', 'rpm-base:9.5', baseTar, '--format', 'rootfs']);
  assert.equal(exportedBase.code, 0, exportedBase.stderr);
  const baseList = sh('tar', ['-tvf', baseTar]);
  assert.match(baseList, /^-rwxr-xr-x 0\/0 .* \.?\/?usr\/bin\/kiln-hello$/m);
  assert.match(baseList, /usr\/share\/kiln-test\/hello\.txt$/m);
  assert.match(baseList, /etc\/yum\.repos\.d\/Kiln_Local\.repo$/m);
  assert.match(baseList, /var\/lib\/rpm\/rpmdb\.sqlite$/m);
  assert.doesNotMatch(baseList, /var\/cache\/dnf\/|var\/log\/dnf/, 'dnf caches and logs of the host stay out of the image');
  const root = join(dir, 'root');
  mkdirSync(root);
  sh('tar', ['-xf', baseTar, '-C', root]);
  assert.equal(readFileSync(join(root, 'etc/yum.repos.d/Kiln_Local.repo'), 'utf8'), `[Kiln_Local]\nname=Kiln_Local\nbaseurl=file://${repo}\nenabled=1\ngpgcheck=0\n`);

  // The child: kiln-hello removed (whiteouts), kiln-extra added, and rpm agrees.
  const childTar = join(dir, 'child.tar');
  const exportedChild = await kiln(['image', 'export', 'rpm-child:v1', childTar, '--format', 'rootfs']);
  assert.equal(exportedChild.code, 0, exportedChild.stderr);
  const childList = sh('tar', ['-tvf', childTar]);
  assert.doesNotMatch(childList, /kiln-test\/hello\.txt$|usr\/bin\/kiln-hello$/m);
  assert.match(childList, /usr\/share\/kiln-test\/extra\.txt$/m);
  assert.match(childList, /etc\/kiln-child$/m);
  const childRoot = join(dir, 'child-root');
  mkdirSync(childRoot);
  sh('tar', ['-xf', childTar, '-C', childRoot]);
  assert.deepEqual(sh('rpm', ['--root', childRoot, '--dbpath', '/var/lib/rpm', '-qa', '--qf', '%{NAME}-%{VERSION}\n']).trim().split('\n').sort(), ['kiln-extra-2.1', 'kiln-sh-1.0']);
  const removal = c1?.steps.find((s) => s.name.startsWith('remove_packages'))?.layer ?? '';
  assert.match(sh('tar', ['-tf', join(dir, 'home', 'store', 'blobs', 'sha256', removal.slice(7))]), /usr\/bin\/\.wh\.kiln-hello$/m);

  // Unchanged: every step cached, same image. A new package in the repo changes nothing until the spec does.
  const again = json<Built[]>(await kiln(['image', 'build', base, child, '--json']));
  assert.ok(again.every((b) => b.steps.every((s) => s.cached)));
  assert.equal(again[1]?.digest, c1?.digest);
  writeFileSync(child, CHILD.replace("echo child", "echo edited"));
  const edited = json<Built[]>(await kiln(['image', 'build', base, child, '--json']));
  assert.deepEqual(edited[1]?.steps.map((s) => s.cached), [true, true, false], 'editing the command re-runs only the command');
});

test('dnf: a package missing from the repositories fails its step with dnf\'s message; nothing is tagged', async (t) => {
  const dir = scratch(t, 'kiln-dnf');
  const repo = makeRpmRepo(join(dir, 'rpms'), RPMS.slice(0, 1));
  const kiln = kilnFor(join(dir, 'home'), 'builder');
  const spec = join(dir, 'bad.yaml');
  writeFileSync(spec, baseSpec(repo).replace('- kiln-hello\n  - kiln-sh', '- kiln-no-such-package'));
  const failed = await kiln(['image', 'build', spec]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /error \[BUILD_FAILED\]: .*bad\.yaml: step 2\/2 "packages: kiln-no-such-package" failed with exit status 1/);
  assert.match(failed.stderr, /No match for argument: kiln-no-such-package/);
  assert.equal((await kiln(['image', 'inspect', 'rpm-base:9.5'])).code, 1);
});

test('zypper: a scratch layer with zypper --root from the same repository, and a child layer; cached on a rebuild', async (t) => {
  const dir = scratch(t, 'kiln-zypper');
  const repo = makeRpmRepo(join(dir, 'rpms'), RPMS);
  const kiln = kilnFor(join(dir, 'home'), 'builder');
  const base = join(dir, 'base.yaml');
  const child = join(dir, 'child.yaml');
  writeFileSync(base, baseSpec(repo).replace("'dnf'", "'zypper'").replace("name: 'rpm-base'", "name: 'suse-base'"));
  writeFileSync(child, CHILD.replace("'dnf'", "'zypper'").replace("'rpm-base:9.5'", "'suse-base:9.5'").replace("'rpm-child'", "'suse-child'"));
  const first = await kiln(['image', 'build', base, child, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const childTar = join(dir, 'child.tar');
  const exported = await kiln(['image', 'export', 'suse-child:v1', childTar, '--format', 'rootfs']);
  assert.equal(exported.code, 0, exported.stderr);
  const listing = sh('tar', ['-tvf', childTar]);
  assert.match(listing, /etc\/zypp\/repos\.d\/Kiln_Local\.repo$/m);
  assert.match(listing, /usr\/share\/kiln-test\/extra\.txt$/m);
  assert.doesNotMatch(listing, /kiln-test\/hello\.txt$|run\/zypp\.pid$/m);
  const root = join(dir, 'root');
  mkdirSync(root);
  sh('tar', ['-xf', childTar, '-C', root]);
  assert.deepEqual(sh('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-qa', '--qf', '%{NAME}\n']).trim().split('\n').sort(), ['kiln-extra', 'kiln-sh']);
  const again = json<Built[]>(await kiln(['image', 'build', base, child, '--json']));
  assert.ok(again.every((b) => b.steps.every((s) => s.cached)));
});

test('host dnf and zypper on a hostile parent: the image\'s symlinks out of its root meet a read-only host', async (t) => {
  const dir = scratch(t, 'kiln-dnf-hostile');
  const repo = makeRpmRepo(join(dir, 'rpms'), RPMS.slice(0, 1));
  const kiln = kilnFor(join(dir, 'home'), 'builder');
  const canary = join(dir, 'canary');
  mkdirSync(canary);
  // A parent without dnf or zypper of its own: the host's run with --installroot/--root on it.
  const parent = join(dir, 'parent');
  mkdirSync(join(parent, 'etc'), { recursive: true });
  sh('ln', ['-s', canary, join(parent, 'var')]);
  sh('ln', ['-s', canary, join(parent, 'usr')]);
  sh('tar', ['-C', parent, '-cf', join(dir, 'parent.tar'), '.']);
  assert.equal((await kiln(['image', 'import', join(dir, 'parent.tar'), 'hostile'])).code, 0);
  for (const pm of ['dnf', 'zypper']) {
    const spec = join(dir, `${pm}.yaml`);
    writeFileSync(spec, `options:\n  name: 'on-hostile-${pm}'\n  pkg_manager: '${pm}'\n  parent: 'hostile'\n  releasever: '9'\nrepos:\n  - alias: 'Kiln_Local'\n    url: 'file://${repo}'\npackages:\n  - kiln-hello\n`);
    const r = await kiln(['image', 'build', spec]);
    assert.equal(r.code, 1, `${pm}: the step cannot write through the links: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /BUILD_FAILED/);
    assert.deepEqual(sh('find', [canary, '-mindepth', '1']).trim(), '', `${pm}: nothing was written on the host`);
  }
});
