import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, kilnFor, scratch, sh } from '../helpers.ts';

// The armhf bootstrap runs under qemu-user and takes minutes: it stays cached in this KILN_HOME between runs.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'build-foreign-home');
const kiln = kilnFor(HOME, 'builder');

function spec(nonce: string): string {
  return `options:
  name: 'deb-armhf'
  publish_tags: 'v1'
  pkg_manager: 'apt'
  parent: 'scratch'
  platform: 'linux/arm/v7'
packages: [hello]
cmds:
  - cmd: 'uname -m > /etc/arch; echo ${nonce} > /etc/nonce'
`;
}

test('a linux/arm/v7 Debian image builds on this server through qemu-user: armhf packages, commands run as armv7l', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-build-foreign');
  const file = join(dir, 'armhf.yaml');
  const nonce = randomBytes(6).toString('hex');
  writeFileSync(file, spec(nonce));

  const built = await kiln(['image', 'build', file, '--json']);
  assert.equal(built.code, 0, built.stderr);
  const [outcome] = json<Array<{ steps: Array<{ name: string; cached: boolean }> }>>(built);
  assert.deepEqual(outcome?.steps.map((s) => s.name.split(':')[0]), ['bootstrap', 'packages', 'cmds[0]']);
  assert.equal(outcome?.steps.at(-1)?.cached, false);

  const inspected = json<{ platform: { os: string; architecture: string; variant?: string }; config: { architecture: string; variant?: string } }>(await kiln(['image', 'inspect', 'deb-armhf:v1', '--json']));
  assert.deepEqual(inspected.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(inspected.config.architecture, 'arm');
  assert.equal(inspected.config.variant, 'v7');

  const rootfs = join(dir, 'rootfs.tar');
  assert.equal((await kiln(['image', 'export', 'deb-armhf:v1', rootfs, '--format', 'rootfs'])).code, 0);
  const out = join(dir, 'root');
  mkdirSync(out);
  sh('tar', ['-xf', rootfs, '-C', out, './etc/arch', './etc/nonce', './usr/bin/hello']);
  assert.equal(readFileSync(join(out, 'etc', 'arch'), 'utf8'), 'armv7l\n', 'uname -m inside the sandbox is the target machine');
  assert.equal(readFileSync(join(out, 'etc', 'nonce'), 'utf8'), `${nonce}\n`);
  // ELF header: 32-bit (EI_CLASS 1), e_machine 0x28 (ARM), so apt installed the armhf package.
  const elf = readFileSync(join(out, 'usr', 'bin', 'hello')).subarray(0, 20);
  assert.deepEqual([elf[4], elf.readUInt16LE(18)], [1, 0x28]);
});

test('a platform Kiln cannot build is refused at validation, with its place in the spec', async (t) => {
  const dir = scratch(t, 'kiln-build-foreign');
  const file = join(dir, 'sparc.yaml');
  writeFileSync(file, `options:\n  name: x\n  pkg_manager: apt\n  platform: linux/sparc64\n`);
  const out = await kiln(['image', 'build', file]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /sparc\.yaml:4:13: platform "linux\/sparc64" cannot be built by this version of kiln/);
});
