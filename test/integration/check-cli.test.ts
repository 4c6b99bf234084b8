import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { json, kilnFor, scratch } from '../helpers.ts';
import { makeTar, writeLayout } from '../oci-fixture.ts';

interface Report {
  image: string;
  digest: string;
  ok: boolean;
  models: string[];
  counts: Record<'pass' | 'fail' | 'warn' | 'info', number>;
  findings: Array<{ id: string; requirement: string; status: string; mandatory: boolean; found: string; model?: string; fix?: string }>;
}

test('kiln image check: usage, unknown image, and a hostile image reported finding by finding', async (t) => {
  const dir = scratch(t, 'kiln-check-cli');
  const kiln = kilnFor(join(dir, 'home'));
  assert.equal((await kiln(['image', 'check'])).code, 2, 'missing argument is a usage error');
  const missing = await kiln(['image', 'check', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NOT_FOUND/);

  const huge = Buffer.alloc(40 << 20, 0x41);
  huge.write('\x7fELF', 0, 'latin1');
  const layer = await makeTar([
    { name: 'bin/busybox', content: huge.toString('latin1') },
    { name: 'sbin/init', type: 'symlink', linkname: '/sbin/init2' },
    { name: 'sbin/init2', type: 'symlink', linkname: '../sbin/init' },
    { name: 'boot/rpi-3-b/start.uboot', content: 'tftp ${kernel_addr_r} kernel\ntftp ${fdt_addr_r} dtb\n' },
    { name: 'boot/rpi-3-b/kernel', type: 'symlink', linkname: '../../../../../../vmlinuz' },
    { name: 'boot/rpi-3-b/dtb', type: 'symlink', linkname: '/dev/null' },
    { name: 'dev/null', type: 'directory' },
    { name: 'etc/ssh/sshd_config', content: 'Include /etc/ssh/sshd_config\nPermitRootLogin no\n' },
    { name: 'usr/sbin/sshd', content: '\x7fELF' },
    { name: 'etc/walt/image.spec', content: '{ "templates": [' },
  ]);
  writeLayout(join(dir, 'layout'), [layer], { 'walt.node.models': 'rpi-3-b', 'walt.server.minversion': '99' });
  assert.equal((await kiln(['image', 'import', join(dir, 'layout'), 'hostile'])).code, 0);
  const result = await kiln(['image', 'check', 'hostile', '--json']);
  assert.equal(result.code, 1, result.stderr);
  const report = json<Report>(result);
  assert.equal(report.image, 'alice/hostile:latest');
  assert.deepEqual(report.models, ['rpi-3-b']);
  assert.equal(report.ok, false);
  assert.equal(report.counts.fail, report.findings.filter((f) => f.status === 'fail').length);
  const find = (id: string) => report.findings.find((f) => f.id === id);
  const expectations: Array<[string, string, RegExp]> = [
    ['labels.minversion', 'fail', /up to 10/],
    ['init', 'fail', /loop/],
    ['busybox.present', 'fail', /larger than/],
    ['boot.links', 'fail', /above the image root/],
    ['boot.files', 'fail', /kernel kernel/],
    ['ssh', 'fail', /PermitRootLogin no.*nesting|nesting.*PermitRootLogin no/],
    ['image-spec', 'fail', /YAML/],
  ];
  for (const [id, status, found] of expectations) {
    const f = find(id);
    assert.equal(f?.status, status, `${id}: ${JSON.stringify(f)}`);
    assert.match(f.found, found, id);
    assert.ok(f.fix, `${id} says how to fix it`);
  }
  // The text report: one line per requirement, the fix on the failing ones, the verdict last.
  const text = await kiln(['image', 'check', 'hostile', '--model', 'rpi-3-b']);
  const lines = text.stdout.trim().split('\n');
  assert.equal(lines.length, report.findings.length + 2);
  assert.ok(lines.filter((l) => l.startsWith('fail')).every((l) => l.includes('-- fix: ')));
  assert.match(lines.at(-1) ?? '', /^NOT bootable: \d+ mandatory requirements fail/);
});
