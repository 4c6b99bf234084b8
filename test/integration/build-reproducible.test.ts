import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, kilnFor, scratch, sh } from '../helpers.ts';

interface Built {
  digest?: string;
  steps: Array<{ cached: boolean; layer?: string }>;
}

test('with SOURCE_DATE_EPOCH, rebuilding the same step without cache gives the same layer and image digest', async (t) => {
  const dir = scratch(t, 'kiln-repro');
  // A parent with a static busybox as /bin/sh: a cmds-only layer needs nothing else.
  const root = join(dir, 'root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  symlinkSync('busybox', join(root, 'bin', 'sh'));
  const tarball = join(dir, 'base.tar');
  sh('tar', ['-C', root, '-cf', tarball, '.']);
  const kiln = kilnFor(join(dir, 'home'), 'repro');
  assert.equal((await kiln(['image', 'import', tarball, 'base', '--label', 'walt.node.models=pc-x86-64'])).code, 0);
  const spec = join(dir, 'child.yaml');
  writeFileSync(spec, "options:\n  name: child\n  parent: 'base'\n  pkg_manager: apt\ncmds:\n  - cmd: 'echo hello > /etc/f; mkdir -p /opt/x; echo y > /opt/x/y'\n");
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const first = json<Built[]>(await kiln(['image', 'build', spec, '--no-cache', '--json'], env))[0];
  const second = json<Built[]>(await kiln(['image', 'build', spec, '--no-cache', '--json'], env))[0];
  assert.equal(second?.steps[0]?.cached, false, '--no-cache ran the step again');
  assert.equal(second?.steps[0]?.layer, first?.steps[0]?.layer, 'same layer digest');
  assert.equal(second?.digest, first?.digest, 'same image digest');
});
