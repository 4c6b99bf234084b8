import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch, sh, tarDir } from '../helpers.ts';
import { startRegistry } from '../registry-servers.ts';

function childSpec(parent: string, opts = "['--tls-verify=false']"): string {
  return `options:
  name: 'child'
  publish_tags: ['v1']
  parent: '${parent}'
  registry_opts_pull: ${opts}
cmds:
  - cmd: 'echo child > /etc/child-marker && cat /etc/base-marker >> /etc/child-marker'
`;
}

test('a parent given as a registry reference is pulled into the store once, then built on', async (t) => {
  const dir = scratch(t, 'kiln-remote-parent');
  const registry = await startRegistry(t, dir, { kind: 'none' });
  // A tiny base: a static busybox as /bin/sh, enough for a cmds-only child layer.
  const root = join(dir, 'root');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  sh('chmod', ['755', join(root, 'bin', 'busybox')]);
  for (const applet of ['sh', 'cat', 'echo']) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'base-marker'), 'from-base\n');
  const tarball = tarDir(root, join(dir, 'base.tar'));
  const alice = kilnFor(join(dir, 'home-alice'), 'alice');
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, `registries:\n  - label: local\n    api: docker-registry-v2\n    host: 127.0.0.1\n    port: ${registry.port}\n    protocol: http\n    auth: none\n`);
  assert.equal((await alice(['image', 'import', tarball, 'base:v1', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  const pushed = await alice(['image', 'publish', 'base:v1', '--registry', 'local', '--force'], { KILN_CONFIG: config });
  assert.equal(pushed.code, 0, pushed.stderr);

  // Another store, without the base: the seed's form, host:port/path:tag with --tls-verify=false (plain http here).
  const bob = kilnFor(join(dir, 'home-bob'), 'bob');
  const spec = join(dir, 'child.yaml');
  writeFileSync(spec, childSpec(`${registry.host}/alice/base:v1`));
  const dry = await bob(['image', 'build', spec, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`from bob/base:v1 \\(to pull from ${registry.host}/alice/base:v1\\)`));
  assert.doesNotMatch((await bob(['image', 'show', '--names-only'])).stdout, /base/, 'a dry run pulls nothing');

  const built = await bob(['image', 'build', spec]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, new RegExp(`Pulling parent ${registry.host}/alice/base:v1 as bob/base:v1`));
  assert.match(built.stdout, /^Built child:v1 \(sha256:[0-9a-f]{64}\): 1 step run, 0 cached$/m);
  assert.match((await bob(['image', 'show', '--names-only'])).stdout, /base:v1/);
  const rootfs = join(dir, 'child-rootfs.tar');
  const exported = await bob(['image', 'export', 'child:v1', rootfs, '--format', 'rootfs']);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(sh('tar', ['-xOf', rootfs, './etc/child-marker']), 'child\nfrom-base\n');
  assert.match(sh('tar', ['-tf', rootfs]), /^\.\/bin\/busybox$/m, 'the child carries the pulled base');

  // The store has the registry's digest: nothing is pulled again, every step is cached.
  const again = await bob(['image', 'build', spec]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /Pulling parent/);
  assert.match(again.stdout, /0 steps run, 1 cached/);
  const dryAgain = await bob(['image', 'build', spec, '--dry-run']);
  assert.match(dryAgain.stdout, new RegExp(`from bob/base:v1 \\(pulled from ${registry.host}/alice/base:v1\\)`));
  assert.match(dryAgain.stdout, /cached {2}1\/1 cmds\[0\]/);

  // A clone URL of a configured registry works the same way, reusing that copy.
  writeFileSync(spec, childSpec('local:alice/base:v1', '[]'));
  const byLabel = await bob(['image', 'build', spec], { KILN_CONFIG: config });
  assert.equal(byLabel.code, 0, byLabel.stderr);
  assert.doesNotMatch(byLabel.stderr, /Pulling parent/);

  // An unknown remote parent fails before anything is built, with its position.
  writeFileSync(spec, childSpec(`${registry.host}/alice/nope:v1`));
  const missing = await bob(['image', 'build', spec]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`child\\.yaml:4:11: cannot pull parent ${registry.host}/alice/nope:v1: `));
  assert.doesNotMatch(missing.stderr, /Building /);
});

test('registry_opts_pull is validated with the spec, and an unknown parent is still reported', async (t) => {
  const dir = scratch(t, 'kiln-remote-parent');
  const bob = kilnFor(join(dir, 'home'), 'bob');
  const spec = join(dir, 'bad.yaml');
  writeFileSync(spec, childSpec('registry.lab:5000/openchami/rocky-base:9', "['--creds=a:b']"));
  const bad = await bob(['image', 'build', spec, '--dry-run']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.yaml:5:24: registry_opts_pull: "--creds=a:b" not understood by kiln/);
  writeFileSync(spec, childSpec('no-such-base:1', '[]'));
  const unknown = await bob(['image', 'build', spec, '--dry-run']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /bad\.yaml:4:11: unknown parent image bob\/no-such-base:1/);
});
