import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../core/index.ts';
import { chooseBootPair, compareKernelVersions, findBootPairs } from './kernel.ts';

test('kernel versions compare by release numbers, not as text', () => {
  const cases: Array<[string, string, number]> = [
    ['6.10.0-1-amd64', '6.9.0-3-amd64', 1],
    ['6.1.0-9-amd64', '6.1.0-10-amd64', -1],
    ['5.14.0-503.14.1.el9_5.x86_64', '5.14.0-503.el9.x86_64', 1],
    ['6.4.0-150600.23.25-default', '6.4.0-150600.23.25-default', 0],
    ['6.1.0-31-amd64', '6.1.0-31-cloud-amd64', 0],
  ];
  for (const [a, b, expected] of cases) assert.equal(compareKernelVersions(a, b), expected, `${a} vs ${b}`);
});

test('Debian, EL and SUSE /boot layouts pair each kernel with its initramfs', () => {
  const debian = findBootPairs(['config-6.1.0-31-amd64', 'initrd.img-6.1.0-31-amd64', 'vmlinuz-6.1.0-31-amd64', 'System.map-6.1.0-31-amd64']);
  assert.deepEqual(debian.pairs, [{ version: '6.1.0-31-amd64', kernel: 'boot/vmlinuz-6.1.0-31-amd64', initramfs: 'boot/initrd.img-6.1.0-31-amd64' }]);
  const el = findBootPairs([
    'vmlinuz-5.14.0-503.el9.x86_64', 'initramfs-5.14.0-503.el9.x86_64.img', 'initramfs-5.14.0-503.el9.x86_64kdump.img',
    'vmlinuz-0-rescue-0123abcd', 'initramfs-0-rescue-0123abcd.img',
  ]);
  assert.deepEqual(el.pairs.map((p) => [p.kernel, p.initramfs]), [['boot/vmlinuz-5.14.0-503.el9.x86_64', 'boot/initramfs-5.14.0-503.el9.x86_64.img']]);
  const suse = findBootPairs(['vmlinuz-6.4.0-150600.23.25-default', 'initrd-6.4.0-150600.23.25-default', 'vmlinuz', 'initrd']);
  assert.deepEqual(suse.pairs.map((p) => p.initramfs), ['boot/initrd-6.4.0-150600.23.25-default']);
  // EL containers keep the kernel under /usr/lib/modules/<v>/ when /boot has only the initramfs.
  const modules = findBootPairs(['initramfs-5.14.0-503.el9.x86_64.img'], ['5.14.0-503.el9.x86_64']);
  assert.deepEqual(modules.pairs.map((p) => p.kernel), ['usr/lib/modules/5.14.0-503.el9.x86_64/vmlinuz']);
  assert.deepEqual(findBootPairs(['vmlinuz-6.1.0-31-amd64']).kernelsWithoutInitramfs, ['6.1.0-31-amd64']);
});

test('the newest kernel is chosen whatever the directory order', () => {
  const files = ['vmlinuz-6.9.0-1-amd64', 'initrd.img-6.9.0-1-amd64', 'vmlinuz-6.10.0-1-amd64', 'initrd.img-6.10.0-1-amd64'];
  for (const order of [files, [...files].reverse()]) {
    assert.equal(chooseBootPair(findBootPairs(order), undefined, 'img').version, '6.10.0-1-amd64');
  }
  assert.equal(chooseBootPair(findBootPairs(files), '6.9.0-1-amd64', 'img').kernel, 'boot/vmlinuz-6.9.0-1-amd64');
});

test('no kernel, a kernel without initramfs, an unknown --kernel-version and rival flavours fail clearly', () => {
  assert.throws(() => chooseBootPair(findBootPairs([]), undefined, 'img'), (err) => isKilnError(err, 'NOT_FOUND') && /no kernel/.test(err.message));
  assert.throws(() => chooseBootPair(findBootPairs(['vmlinuz-6.1.0-31-amd64']), undefined, 'img'), (err) => isKilnError(err, 'NOT_FOUND') && /has no initramfs/.test(err.message));
  const two = findBootPairs(['vmlinuz-6.1.0-31-amd64', 'initrd.img-6.1.0-31-amd64', 'vmlinuz-6.1.0-31-cloud-amd64', 'initrd.img-6.1.0-31-cloud-amd64']);
  assert.throws(() => chooseBootPair(two, undefined, 'img'), (err) => isKilnError(err, 'AMBIGUOUS') && /--kernel-version/.test(err.hint));
  assert.equal(chooseBootPair(two, '6.1.0-31-cloud-amd64', 'img').version, '6.1.0-31-cloud-amd64');
  assert.throws(() => chooseBootPair(two, '5.10.0-1-amd64', 'img'), (err) => isKilnError(err, 'NOT_FOUND') && /6\.1\.0-31-amd64/.test(err.hint));
});
