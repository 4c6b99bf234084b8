import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { kilnFor, scratch, sh, tarDir } from '../helpers.ts';

/** Copies a host program and the libraries ldd names (none for a static one) into `root`, at the same paths. */
function copyProgram(root: string, program: string, as: string, isStatic = false): void {
  const libs = (isStatic ? '' : sh('ldd', [program])).split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((l): l is string => l !== undefined);
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(realpathSync(lib), join(root, lib));
  }
  copyFileSync(program, join(root, as));
  sh('chmod', ['755', join(root, as)]);
}

/**
 * A parent image root that runs the build's steps: the host's dash as /bin/sh and GNU cp
 * (the copyfiles step uses --preserve=mode), busybox for the rest; then what `hostile` adds.
 */
function parentRoot(dir: string, name: string, hostile: (root: string) => void = () => {}): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyProgram(root, sh('sh', ['-c', 'command -v busybox']).trim(), 'bin/busybox', true);
  copyProgram(root, realpathSync('/bin/sh'), 'bin/sh');
  copyProgram(root, realpathSync('/bin/cp'), 'bin/cp');
  for (const tool of ['echo', 'cat', 'mkdir', 'dirname', 'chmod']) symlinkSync('busybox', join(root, 'bin', tool));
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
    const tar = parentRoot(dir, `root-${name}`, hostile);
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

test('copyfiles copies host files from the spec directory only, unless their root is allowed by name', async (t) => {
  const dir = realpathSync(scratch(t, 'kiln-hostcopy'));
  const home = join(dir, 'home');
  const kiln = kilnFor(home, 'builder');
  // A host directory standing for /etc: a secret the specs try to copy.
  const hostDir = join(dir, 'host-etc');
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, 'shadow'), 'root:secret-hash:19000::::::\n');
  const specs = join(dir, 'specs');
  mkdirSync(join(specs, 'files', 'conf'), { recursive: true });
  symlinkSync(join(hostDir, 'shadow'), join(specs, 'files', 'shadow-link'));
  writeFileSync(join(specs, 'files', 'conf', 'a.conf'), 'a\n');
  symlinkSync(join(hostDir, 'shadow'), join(specs, 'files', 'conf', 'shadow-abs'));
  symlinkSync('../../../host-etc/shadow', join(specs, 'files', 'conf', 'shadow-rel'));
  assert.equal((await kiln(['image', 'import', parentRoot(dir, 'root-plain'), 'plain', '--format', 'rootfs'])).code, 0);

  const up = '../'.repeat(specs.split('/').length);
  const hostile = join(specs, 'hostile.yaml');
  writeFileSync(hostile, `options:\n  name: stolen\n  parent: plain\ncopyfiles:\n  - src: ${hostDir}/shadow\n    dst: /a\n  - src: ${up}${hostDir.slice(1)}/shadow\n    dst: /b\n  - src: files/shadow-link\n    dst: /c\n`);
  const refused = await kiln(['image', 'build', hostile]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /error \[CONFIG\]: 3 problems/);
  assert.match(refused.stderr, new RegExp(`hostile\\.yaml:5:10: copyfiles\\[0\\]\\.src "${hostDir}/shadow" is outside the spec's directory ${specs}:`));
  assert.match(refused.stderr, /hostile\.yaml:7:10: copyfiles\[1\]\.src "(\.\.\/)+/);
  assert.match(refused.stderr, new RegExp(`hostile\\.yaml:9:10: copyfiles\\[2\\]\\.src "files/shadow-link" is outside .*\\(it resolves to ${hostDir}/shadow\\)`));
  assert.match(refused.stderr, /hint: .*--allow-host-path <dir>.*"allow_host_paths: \[<dir>, \.\.\.\]" in kiln\.yaml; OpenCHAMI specs that copy from absolute host paths keep working with that one setting/);
  assert.equal((await kiln(['image', 'inspect', 'stolen'])).code, 1, 'nothing was built');

  // Named on the command line or in kiln.yaml, the root is allowed, and the plan shows each host file.
  const dry = await kiln(['image', 'build', hostile, '--dry-run', '--allow-host-path', hostDir]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout.split('\n').filter((l) => l.trim() === `copies ${hostDir}/shadow`).length, 3, dry.stdout);
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, `allow_host_paths:\n  - ${hostDir}\n`);
  const built = await kiln(['image', 'build', hostile], { KILN_CONFIG: config });
  assert.equal(built.code, 0, built.stderr);
  const rootfs = join(dir, 'stolen.tar');
  assert.equal((await kiln(['image', 'export', 'stolen', rootfs, '--format', 'rootfs'])).code, 0);
  const out = join(dir, 'out');
  mkdirSync(out);
  sh('tar', ['-C', out, '-xf', rootfs]);
  assert.equal(readFileSync(join(out, 'a'), 'utf8'), readFileSync(join(hostDir, 'shadow'), 'utf8'), 'an allowed host file is copied');

  // Links inside a copied directory stay links: the host file they point to is not copied.
  const dirSpec = join(specs, 'dir.yaml');
  writeFileSync(dirSpec, 'options:\n  name: conf\n  parent: plain\ncopyfiles:\n  - src: files/conf\n    dst: /etc/conf\n');
  const plan = await kiln(['image', 'build', dirSpec, '--dry-run']);
  assert.match(plan.stdout, new RegExp(`copies ${specs}/files/conf/shadow-abs -> ${hostDir}/shadow \\(a symlink, copied as one\\)`));
  assert.equal((await kiln(['image', 'build', dirSpec])).code, 0);
  const confTar = join(dir, 'conf.tar');
  assert.equal((await kiln(['image', 'export', 'conf', confTar, '--format', 'rootfs'])).code, 0);
  const listing = sh('tar', ['-tvf', confTar]);
  assert.match(listing, /^l.* \.?\/?etc\/conf\/shadow-abs -> /m);
  assert.match(listing, /^l.* \.?\/?etc\/conf\/shadow-rel -> \.\.\/\.\.\/\.\.\/host-etc\/shadow$/m);
  assert.doesNotMatch(sh('tar', ['-xOf', confTar, '--wildcards', '*a.conf']), /secret/);
});
