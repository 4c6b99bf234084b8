import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kilnFor, runProgram, scratch, sh, tarDir, type Result } from '../helpers.ts';
import { startKilnServe } from './nfs-support.ts';

const MAC = '52:54:00:12:37:01';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

test('kiln node run / cp reach a node over SSH with the server\'s key, and only with the host key Kiln generated for it', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-node-ssh');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  const ok = async (args: readonly string[]): Promise<Result> => {
    const r = await kiln(args);
    assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
    return r;
  };
  const root = join(dir, 'image');
  mkdirSync(join(root, 'boot/pc-x86-64'), { recursive: true });
  writeFileSync(join(root, 'boot/pc-x86-64/start.ipxe'), '#!ipxe\n');
  await ok(['image', 'import', tarDir(root, join(dir, 'image.tar')), 'node:v1', '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  await ok(['node', 'register', MAC, '--model', 'pc-x86-64', '--name', 'pc9', '--ip', '127.0.0.1', '--image', 'node:v1']);
  const port = await freePort();
  await ok(['node', 'config', 'pc9', `ssh.port=${port}`]);

  // The node boots: its init fetches its identity from kiln serve, which makes its host key and the server's key.
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, 'server:\n  address: 127.0.0.1\n  http_port: 0\n  tftp_port: 0\n  nfs: off\n');
  const serve = await startKilnServe(t, { KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: config });
  const identity = await runProgram('curl', ['-sSf', '--noproxy', '*', '-o', join(dir, 'identity.sh'), `http://127.0.0.1:${serve.listening.http}/kiln/identity.sh`]);
  assert.equal(identity.code, 0, identity.stderr);
  const keyDir = join(home, 'state', 'nodes', MAC, 'identity');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(home, 'state', 'server', 'id_ed25519.pub')));

  // The node's sshd, with that host key, in a mount namespace of its own (/run/sshd), on 127.0.0.1.
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(keyDir, 'ssh_host_ed25519_key')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PidFile none', 'StrictModes no', 'UsePAM no', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'Subsystem sftp internal-sftp', '',
  ].join('\n'));
  const sshd = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -f '${join(dir, 'sshd_config')}'`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let sshdLog = '';
  sshd.stderr.on('data', (c: Buffer) => (sshdLog += c.toString()));
  t.after(() => sshd.kill('SIGKILL'));
  for (let i = 0; i < 100 && !(await accepts(port)); i++) await sleep(100);

  const ran = await kiln(['node', 'run', 'pc9', '--', 'echo', 'hello from', '$(id -u)']);
  assert.equal(ran.code, 0, `${ran.stderr}\n${sshdLog}`);
  assert.equal(ran.stdout, 'hello from 0\n');
  const failed = await kiln(['node', 'run', 'pc9', '--', 'exit 3']);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /ssh to pc9 exited with status 3/u);

  // cp, both ways.
  writeFileSync(join(dir, 'local.txt'), 'to the node\n');
  await ok(['node', 'cp', join(dir, 'local.txt'), `pc9:${join(dir, 'on-node.txt')}`]);
  assert.equal(readFileSync(join(dir, 'on-node.txt'), 'utf8'), 'to the node\n');
  await ok(['node', 'cp', `pc9:${join(dir, 'on-node.txt')}`, join(dir, 'back.txt')]);
  assert.equal(readFileSync(join(dir, 'back.txt'), 'utf8'), 'to the node\n');

  // Another host key at the node's address (a different machine, or a spoofer): refused, never learnt.
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
  writeFileSync(join(keyDir, 'ssh_host_ed25519_key.pub'), readFileSync(join(dir, 'other.pub')));
  const spoofed = await kiln(['node', 'run', 'pc9', '--', 'true']);
  assert.equal(spoofed.code, 1);
  assert.match(spoofed.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/u);
});
