import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectInitramfs, kernelParameters, renderIpxeScript } from './ipxe.ts';

test('the initramfs generator is told from the image\'s files', () => {
  const has = (paths: string[]) => (p: string) => paths.includes(p);
  assert.equal(detectInitramfs(has(['usr/lib/live/boot'])).kind, 'live-boot');
  const dracut = detectInitramfs(has(['usr/bin/dracut', 'usr/lib/dracut/modules.d/90dmsquash-live', 'usr/lib/dracut/modules.d/90livenet']));
  assert.deepEqual(dracut, { kind: 'dracut', warnings: [] });
  const noLive = detectInitramfs(has(['usr/sbin/dracut']));
  assert.equal(noLive.kind, 'dracut');
  assert.equal(noLive.warnings.length, 2, 'missing dmsquash-live and livenet are reported');
  assert.equal(detectInitramfs(has([])).kind, 'unknown');
});

test('kernel parameters follow the initramfs: dracut root=live:, live-boot boot=live fetch=', () => {
  const url = 'http://s3:9000/boot-images/x/rootfs.squashfs';
  assert.match(kernelParameters('dracut', url), /^root=live:http:\/\/s3:9000\/boot-images\/x\/rootfs\.squashfs .*rd\.neednet=1/);
  assert.equal(kernelParameters('live-boot', url, ' console=ttyS0 '), `boot=live fetch=${url} ip=dhcp console=ttyS0`, 'a console in --append replaces the default ones');
  assert.equal(kernelParameters('live-boot', url), `boot=live fetch=${url} ip=dhcp console=tty0 console=ttyS0,115200`, 'screen and serial by default, serial last');
  assert.equal(kernelParameters('unknown', url, 'quiet'), 'console=tty0 console=ttyS0,115200 quiet');
});

test('renderIpxeScript loads kernel and initrd from the base URL and retries on failure', () => {
  const script = renderIpxeScript({
    image: 'alice/node:v1', digest: 'sha256:ab', baseUrl: 'http://10.0.0.1/boot', kernel: 'node/v1/amd64/vmlinuz',
    initramfs: 'node/v1/amd64/initramfs.img', params: 'boot=live fetch=${base-url}node/v1/amd64/rootfs.squashfs', retryDelay: 3,
  });
  assert.equal(script, [
    '#!ipxe',
    '# alice/node:v1 (sha256:ab), exported by kiln',
    'set base-url http://10.0.0.1/boot/',
    '',
    ':retry',
    'imgfree',
    'kernel ${base-url}node/v1/amd64/vmlinuz initrd=initramfs.img boot=live fetch=${base-url}node/v1/amd64/rootfs.squashfs || goto failed',
    'initrd ${base-url}node/v1/amd64/initramfs.img || goto failed',
    'boot || goto failed',
    '',
    ':failed',
    'echo Boot failed, retrying in 3 seconds...',
    'sleep 3',
    'goto retry',
    '',
  ].join('\n'));
});

test('without a base URL the script keeps one set by the caller, else uses the next server', () => {
  const script = renderIpxeScript({ image: 'i', digest: 'd', baseUrl: undefined, kernel: 'k', initramfs: 'efi-images/initrd.img-6.1.0-31-amd64', params: '' });
  assert.match(script, /^isset \$\{base-url\} \|\| set base-url http:\/\/\$\{next-server\}\/$/m);
  assert.match(script, /^kernel \$\{base-url\}k initrd=initrd\.img-6\.1\.0-31-amd64 \|\| goto failed$/m);
});
