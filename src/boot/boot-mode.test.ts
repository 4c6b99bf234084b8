import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootModeOf, renderStartScript } from './boot-mode.ts';

const NODE = { mac: '52:54:00:aa:bb:cc', model: 'pc-x86-64', serverIp: '10.213.5.1', httpUrl: 'http://10.213.5.1', kernel: 'kernel', initrd: 'initrd' };

test('Kiln\'s nfs start.ipxe mounts the node\'s WalT export with initramfs-tools and runs walt-init, which finds the identity at kiln.http', () => {
  const text = renderStartScript({ ...NODE, mode: 'nfs' });
  assert.match(text, /^#!ipxe\n/u);
  const kernel = text.split('\n').find((l) => l.startsWith('kernel ')) ?? '';
  assert.equal(kernel, 'kernel kernel initrd=initrd boot=nfs root=/dev/nfs nfsroot=10.213.5.1:/var/lib/walt/nodes/52:54:00:aa:bb:cc/fs ip=dhcp init=/bin/walt-init kiln.http=10.213.5.1:80 console=tty0 console=ttyS0,115200 || goto failed');
  assert.match(text, /\ninitrd initrd \|\| goto failed\nboot \|\| goto failed\n/u);
  assert.match(renderStartScript({ ...NODE, mode: 'nfs', httpUrl: 'http://10.0.0.1:8080' }), /kiln\.http=10\.0\.0\.1:8080 /u);
});

test('Kiln\'s live start.ipxe live-boots the SquashFS of the node\'s image; without /boot/<model>/ links it loads the boot artifacts', () => {
  const text = renderStartScript({ ...NODE, mode: 'live', kernel: 'vmlinuz', initrd: 'initramfs.img', httpUrl: 'http://10.213.5.1:8080/' });
  assert.match(text, /\nkernel vmlinuz initrd=initramfs\.img boot=live fetch=http:\/\/10\.213\.5\.1:8080\/boot\/rootfs\.squashfs ip=dhcp console=tty0 console=ttyS0,115200 \|\| goto failed\n/u);
  assert.match(text, /\ninitrd initramfs\.img \|\| goto failed\n/u);
});

test('a node\'s boot mode: its boot.mode setting, else the server default, else the image\'s own script; a wrong value says how to fix it', () => {
  assert.equal(bootModeOf({ name: 'n', settings: {} }), 'image');
  assert.equal(bootModeOf({ name: 'n', settings: {} }, 'nfs'), 'nfs');
  assert.equal(bootModeOf({ name: 'n', settings: { 'boot.mode': 'live' } }, 'nfs'), 'live');
  assert.equal(bootModeOf({ name: 'n', settings: { 'boot.mode': 'image' } }, 'nfs'), 'image');
  assert.throws(() => bootModeOf({ name: 'n', settings: { 'boot.mode': 'floppy' } }), (err: Error & { hint?: string }) => /boot\.mode "floppy" is not one of image, nfs, live/u.test(err.message) && /kiln node config n boot\.mode=/u.test(err.hint ?? ''));
});
