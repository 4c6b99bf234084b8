import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildArch, checkForeignArch, debianArch, isForeign } from './foreign.ts';

const AMD64 = { os: 'linux', architecture: 'amd64' };

test('platforms map to Debian and qemu names; linux/arm is armhf (v7)', () => {
  const cases: Array<[string, string, string, string | undefined]> = [
    ['arm64', 'arm64', 'aarch64', undefined],
    ['arm', 'armhf', 'arm', 'v7'],
    ['386', 'i386', 'i386', undefined],
    ['ppc64le', 'ppc64el', 'ppc64le', undefined],
  ];
  for (const [arch, debian, qemu, variant] of cases) {
    const got = buildArch({ os: 'linux', architecture: arch });
    assert.deepEqual([got.debian, got.qemu, got.platform.variant], [debian, qemu, variant], arch);
  }
  assert.equal(debianArch('amd64'), 'amd64');
  assert.throws(() => buildArch({ os: 'linux', architecture: 'arm', variant: 'v5' }), /linux\/arm\/v5" cannot be built/);
  assert.throws(() => buildArch({ os: 'windows', architecture: 'amd64' }), /UNSUPPORTED|cannot be built/);
  assert.equal(isForeign({ os: 'linux', architecture: 'arm64' }, AMD64), true);
  assert.equal(isForeign(AMD64, AMD64), false);
});

test('a foreign build needs an enabled qemu binfmt_misc entry with the F flag, and says how to get one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-binfmt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const arm = { os: 'linux', architecture: 'arm', variant: 'v7' };
  const check = (): Promise<void> => checkForeignArch(arm, { dir, host: AMD64 });

  await assert.rejects(check(), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'TOOL_MISSING');
    assert.match(err.message, /cannot build for linux\/arm\/v7 on this linux\/amd64 server: binfmt_misc is not mounted/);
    assert.match(err.hint ?? '', /mount -t binfmt_misc binfmt_misc .*apt-get install qemu-user-static binfmt-support.*update-binfmts --enable qemu-arm/);
    return true;
  });
  writeFileSync(join(dir, 'register'), '');
  await assert.rejects(check(), /no qemu-user interpreter is registered for it \(.*qemu-arm is missing\)/);
  const entry = (state: string, flags: string): void => writeFileSync(join(dir, 'qemu-arm'), `${state}\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: ${flags}\noffset 0\n`);
  entry('disabled', 'PF');
  await assert.rejects(check(), (err: Error & { hint?: string }) => /is disabled/.test(err.message) && /update-binfmts --enable qemu-arm/.test(err.hint ?? ''));
  entry('enabled', 'P');
  await assert.rejects(check(), /lacks the F \(fix-binary\) flag/);
  entry('enabled', 'POCF');
  await check();
  // The host's own architecture needs no interpreter.
  mkdirSync(join(dir, 'empty'));
  await checkForeignArch(AMD64, { dir: join(dir, 'empty'), host: AMD64 });
});
