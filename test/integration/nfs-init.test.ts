import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram, scratch } from '../helpers.ts';

const INIT = new URL('../../src/boot/node-init/walt-init.sh', import.meta.url);
const APPLETS = ['sh', 'cat', 'mkdir', 'mount', 'sed', 'chroot', 'sleep', 'reboot', 'timeout', 'echo', 'touch', 'ls', 'umount'];

test('walt-init puts a RAM overlay over the read-only root, mounts /persist and execs /sbin/init', { timeout: 60_000 }, async (t) => {
  const dir = scratch(t, 'kiln-init');
  const root = join(dir, 'root');
  for (const d of ['bin', 'sbin', 'proc', 'run', 'etc', 'srv/persist']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of [...APPLETS, 'grep']) symlinkSync('busybox', join(root, 'bin', applet));
  copyFileSync(INIT, join(root, 'bin', 'walt-init'));
  chmodSync(join(root, 'bin', 'walt-init'), 0o755);
  writeFileSync(join(root, 'srv', 'persist', 'kept'), 'from the last boot\n');
  writeFileSync(join(root, 'etc', 'image-file'), 'read-only\n');
  // The stub init reports what the image's init would see.
  writeFileSync(join(root, 'sbin', 'init'), [
    '#!/bin/sh',
    'echo "init ran as $0 $*"',
    'echo "persist: $(cat /persist/kept)"',
    'echo changed > /etc/image-file && echo "root writable: $(cat /etc/image-file)"',
    'echo new > /persist/written',
    'mount -t proc proc /proc',
    'grep -q "^kiln-root / overlay" /proc/mounts && echo "root is overlay"',
    '',
  ].join('\n'));
  chmodSync(join(root, 'sbin', 'init'), 0o755);
  writeFileSync(join(dir, 'cmdline'), 'root=/dev/nfs nfsroot=192.0.2.1:/var/lib/walt/nodes/52:54:00:00:00:01/fs,v3 init=/bin/walt-init walt.server.ip=192.0.2.1 kiln.persist=bind:/srv/persist\n');
  const script = [
    'set -e',
    `mount --bind "${root}" "${root}"`,
    `mount -t proc proc "${root}/proc"`,
    `mount --bind "${join(dir, 'cmdline')}" "${root}/proc/cmdline"`,
    `exec chroot "${root}" /bin/walt-init single`,
  ].join('\n');
  const result = await runProgram('timeout', ['50', 'unshare', '-m', '-p', '-f', '--propagation', 'private', 'sh', '-c', script]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /init ran as \/sbin\/init single/u);
  assert.match(result.stdout, /persist: from the last boot/u);
  assert.match(result.stdout, /root writable: changed/u);
  assert.match(result.stdout, /root is overlay/u);
  // The served tree never changes; /persist does.
  assert.equal(readFileSync(join(root, 'etc', 'image-file'), 'utf8'), 'read-only\n');
  assert.equal(readFileSync(join(root, 'srv', 'persist', 'written'), 'utf8'), 'new\n');
});
