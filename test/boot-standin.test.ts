import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from './helpers.ts';
import { renderTemplate, resolveInImage } from './boot-standin.ts';

test('the stand-in resolves /boot/<model>/ symlinks inside the image, absolute ones against its root', (t) => {
  const root = join(scratch(t), 'image');
  mkdirSync(join(root, 'boot', 'pc-x86-64'), { recursive: true });
  writeFileSync(join(root, 'boot', 'vmlinuz-6.1.0-50-amd64'), 'kernel');
  symlinkSync('/boot/vmlinuz-6.1.0-50-amd64', join(root, 'boot', 'pc-x86-64', 'kernel'));
  symlinkSync('../vmlinuz-6.1.0-50-amd64', join(root, 'boot', 'pc-x86-64', 'relative'));
  symlinkSync('/../../../etc/passwd', join(root, 'boot', 'pc-x86-64', 'escape'));
  symlinkSync('loop', join(root, 'boot', 'pc-x86-64', 'loop'));
  assert.equal(resolveInImage(root, '/boot/pc-x86-64/kernel'), join(root, 'boot', 'vmlinuz-6.1.0-50-amd64'));
  assert.equal(resolveInImage(root, '/boot/pc-x86-64/relative'), join(root, 'boot', 'vmlinuz-6.1.0-50-amd64'));
  assert.equal(resolveInImage(root, '/boot/pc-x86-64/escape'), undefined, 'stays inside the image (no /etc/passwd there)');
  assert.equal(resolveInImage(root, '/boot/pc-x86-64/loop'), undefined);
  assert.equal(resolveInImage(root, '/boot/pc-x86-64/missing'), undefined);
});

test('WalT templates get %(name)s variables; unknown ones stay as written', () => {
  assert.equal(renderTemplate('fetch=%(kiln_rootfs_url)s ntp %(server_ip)s %(other)s', { kiln_rootfs_url: 'http://10.0.2.2:8080/r.squashfs', server_ip: '10.0.2.2' }),
    'fetch=http://10.0.2.2:8080/r.squashfs ntp 10.0.2.2 %(other)s');
});
