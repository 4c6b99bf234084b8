import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, okFor, runProgram, scratch, tarDir, type Result } from '../helpers.ts';
import { createCleanup, startKilnServe } from './nfs-support.ts';

const MAC = '52:54:00:12:36:01';
const INIT = new URL('../../src/boot/node-init/walt-init.sh', import.meta.url);
const APPLETS = ['sh', 'cat', 'chmod', 'mkdir', 'mount', 'sed', 'chroot', 'sleep', 'reboot', 'timeout', 'echo', 'nc', 'rm', 'printf', 'stat', 'umount'];
const IMAGE_KEYS = 'ssh-rsa AAAAB3NzaC1yc2E image-owner@lab\n';
/** What the node's files are copied to /persist as (then read on the host): path in the node → name. */
const COPIED = ['/etc/hostname', '/etc/hosts', '/etc/machine-id', '/etc/resolv.conf', '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/root/.ssh/authorized_keys', '/etc/ntp.conf'];

/** The stored image: a node image with its own authorized_keys and a template. */
function imageRoot(dir: string): string {
  const root = join(dir, 'image');
  for (const d of ['etc/walt', 'root/.ssh', 'boot/pc-x86-64']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'root/.ssh/authorized_keys'), IMAGE_KEYS);
  writeFileSync(join(root, 'etc/ntp.conf'), 'server %(server_ip)s iburst # it\'s "$quoted" \\ 100%%\n');
  writeFileSync(join(root, 'etc/walt/image.spec'), '{"templates": ["/etc/ntp.conf"]}\n');
  writeFileSync(join(root, 'boot/pc-x86-64/start.ipxe'), '#!ipxe\n');
  return root;
}

/** The node's root as the NFS tree would hold it: busybox, Kiln's init, and a stub /sbin/init that copies what it sees to /persist. */
function nodeRoot(dir: string): string {
  const root = join(dir, 'root');
  for (const d of ['bin', 'sbin', 'proc', 'run', 'etc', 'srv/persist']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  copyFileSync(INIT, join(root, 'bin', 'walt-init'));
  chmodSync(join(root, 'bin', 'walt-init'), 0o755);
  writeFileSync(join(root, 'etc', 'hostname'), 'image-hostname\n');
  writeFileSync(join(root, 'sbin', 'init'), [
    '#!/bin/sh',
    ...COPIED.map((p) => `cat ${p} > /persist/${p.slice(1).replaceAll('/', '_')}; stat -c %a ${p} > /persist/${p.slice(1).replaceAll('/', '_')}.mode`),
    'echo "init ran"',
    '',
  ].join('\n'));
  chmodSync(join(root, 'sbin', 'init'), 0o755);
  return root;
}

async function boot(dir: string, root: string, http: string): Promise<Result> {
  writeFileSync(join(dir, 'cmdline'), `root=/dev/nfs nfsroot=192.0.2.1:/var/lib/walt/nodes/${MAC}/fs,v3 init=/bin/walt-init kiln.http=${http} kiln.persist=bind:/srv/persist\n`);
  const script = [
    'set -e',
    `mount --bind "${root}" "${root}"`,
    `mount -t proc proc "${root}/proc"`,
    `mount --bind "${join(dir, 'cmdline')}" "${root}/proc/cmdline"`,
    `exec chroot "${root}" /bin/walt-init`,
  ].join('\n');
  return runProgram('timeout', ['50', 'unshare', '-m', '-p', '-f', '--propagation', 'private', 'sh', '-c', script]);
}

test('walt-init fetches the node\'s identity from kiln serve and writes it into the overlay; it stays the same across boots', { timeout: 120_000 }, async (t) => {
  // Cleanups run in reverse: kiln serve is gone before its home is removed.
  const cleanup = createCleanup(t);
  const dir = scratch(cleanup, 'kiln-identity');
  const home = join(dir, 'home');
  const ok = okFor(kilnFor(home));
  await ok(['image', 'import', tarDir(imageRoot(dir), join(dir, 'image.tar'), 'gzip'), 'node:v1', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  await ok(['node', 'register', MAC, '--model', 'pc-x86-64', '--name', 'pc7', '--ip', '127.0.0.1', '--image', 'node:v1']);
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, 'server:\n  address: 127.0.0.1\n  server_ip: 192.0.2.7\n  http_port: 0\n  tftp_port: 0\n  nfs: off\n  dns: 192.0.2.53, 192.0.2.54\n');
  const serve = await startKilnServe(cleanup, { KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: config });
  const http = `127.0.0.1:${serve.listening.http}`;

  // Only a registered node gets an identity: another address on the boot network gets a 404.
  const stranger = await runProgram('curl', ['-sS', '--noproxy', '*', '-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.0.2', `http://${http}/kiln/identity.sh`]);
  assert.equal(stranger.stdout, '404', stranger.stderr);

  const root = nodeRoot(dir);
  const first = await boot(dir, root, http);
  assert.equal(first.code, 0, `${first.stderr}\n${serve.stderr()}`);
  assert.match(first.stdout, /init ran/u);
  assert.doesNotMatch(first.stderr, /no identity/u);
  const seen = (path: string): string => readFileSync(join(root, 'srv/persist', path.slice(1).replaceAll('/', '_')), 'utf8');
  const mode = (path: string): string => seen(`${path}.mode`).trim();
  assert.equal(seen('/etc/hostname'), 'pc7\n');
  assert.match(seen('/etc/hosts'), /^127\.0\.0\.1\tpc7$/mu);
  assert.equal(seen('/etc/resolv.conf'), 'nameserver 192.0.2.53\nnameserver 192.0.2.54\n');
  assert.match(seen('/etc/machine-id'), /^[0-9a-f]{32}\n$/u);
  assert.equal(seen('/etc/ntp.conf'), 'server 192.0.2.7 iburst # it\'s "$quoted" \\ 100%\n', 'the image\'s template, rendered for this server');
  // Host keys: the pair Kiln keeps for this node (pinned by `kiln node` commands), the private key private.
  const keyDir = join(home, 'state', 'nodes', MAC, 'identity');
  assert.equal(seen('/etc/ssh/ssh_host_ed25519_key'), readFileSync(join(keyDir, 'ssh_host_ed25519_key'), 'utf8'));
  assert.equal(seen('/etc/ssh/ssh_host_ed25519_key.pub'), readFileSync(join(keyDir, 'ssh_host_ed25519_key.pub'), 'utf8'));
  assert.equal(mode('/etc/ssh/ssh_host_ed25519_key'), '600');
  assert.equal(mode('/etc/ssh/ssh_host_ed25519_key.pub'), '644');
  // authorized_keys: the image's own line kept, the server's key added.
  const serverKey = readFileSync(join(home, 'state', 'server', 'id_ed25519.pub'), 'utf8');
  assert.equal(seen('/root/.ssh/authorized_keys'), `${IMAGE_KEYS}${serverKey.trim()}\n`);
  assert.equal(mode('/root/.ssh/authorized_keys'), '600');
  // The node's tree is not written: the identity lives in the RAM overlay only.
  assert.equal(readFileSync(join(root, 'etc', 'hostname'), 'utf8'), 'image-hostname\n');

  // A second boot: same machine-id and host key.
  const machineId = seen('/etc/machine-id');
  const hostKey = seen('/etc/ssh/ssh_host_ed25519_key.pub');
  rmSync(join(root, 'srv/persist'), { recursive: true });
  mkdirSync(join(root, 'srv/persist'));
  const second = await boot(dir, root, http);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(seen('/etc/machine-id'), machineId);
  assert.equal(seen('/etc/ssh/ssh_host_ed25519_key.pub'), hostKey);
});

test('walt-init boots on when the identity cannot be fetched', { timeout: 60_000 }, async (t) => {
  const dir = scratch(t, 'kiln-identity-none');
  const root = nodeRoot(dir);
  // A port nothing listens on.
  const r = await boot(dir, root, '127.0.0.1:9');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /walt-init: no identity from http:\/\/127\.0\.0\.1:9\/kiln\/identity\.sh/u);
  assert.match(r.stdout, /init ran/u);
  assert.equal(readFileSync(join(root, 'srv/persist', 'etc_hostname'), 'utf8'), 'image-hostname\n');
});
