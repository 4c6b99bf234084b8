import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createGaneshaNfsBackend, nodeExportPaths } from '../../src/boot/index.ts';
import { scratch } from '../helpers.ts';

const MAC1 = '52:54:00:12:34:01';
const MAC2 = '52:54:00:12:34:02';
const NFS_PORT = 2049;
const MOUNT_PORT = 20048;

/**
 * A network namespace made by the test (loopback only, plus a second loopback address so that
 * getaddrinfo's AI_ADDRCONFIG sees IPv4), with its own /run: rpcbind (which ganesha must
 * register with) and ganesha.nfsd listen there, never on the host's network.
 */
function startNamespace(t: { after: (fn: () => void) => void }): Promise<{ holder: ChildProcess; inNs: (cmd: string, args: string[]) => ReturnType<typeof runProgram>; spawnInNs: (cmd: string, args: string[]) => ChildProcess }> {
  const holder = spawn('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c',
    'ip link set lo up && ip addr add 10.213.0.1/32 dev lo && mount -t tmpfs tmpfs /run && echo ready && exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    holder.kill('SIGKILL');
  });
  const ns = (): string[] => ['-t', String(holder.pid), '-n', '-m'];
  return new Promise((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`namespace holder exited (${code})`)));
    holder.stdout?.once('data', () => resolve({
      holder,
      inNs: (cmd, args) => runProgram('timeout', ['20', 'nsenter', ...ns(), cmd, ...args]),
      spawnInNs: (cmd, args) => {
        const child = spawn('nsenter', [...ns(), cmd, ...args], { stdio: 'ignore' });
        children.push(child);
        return child;
      },
    }));
  });
}

/** Runs a program to completion (stdin closed), capturing its output. */
function runProgram(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function url(path: string): string {
  return `nfs://127.0.0.1${path}?version=3&nfsport=${NFS_PORT}&mountport=${MOUNT_PORT}`;
}

test('nodes mount their image tree read-only and their persist read-write over NFSv3 at WalT\'s paths; a re-export follows node changes', { timeout: 180_000 }, async (t) => {
  const dir = scratch(t, 'kiln-nfs');
  const treeA = join(dir, 'trees', 'a', 'fs');
  const treeB = join(dir, 'trees', 'b', 'fs');
  for (const [tree, text] of [[treeA, 'image A\n'], [treeB, 'image B\n']] as const) {
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'which'), text);
  }
  const persist1 = join(dir, 'persist', MAC1);
  const persist2 = join(dir, 'persist', MAC2);
  mkdirSync(persist1, { recursive: true });
  mkdirSync(persist2, { recursive: true });
  const pidFile = join(dir, 'ganesha.pid');
  const configPath = join(dir, 'ganesha.conf');
  const backend = createGaneshaNfsBackend({ configPath, pidFile, listen: { address: '127.0.0.1', nfsPort: NFS_PORT, mountPort: MOUNT_PORT } });
  await backend.apply([{ mac: MAC1, tree: treeA, persist: persist1 }]);

  const { inNs, spawnInNs } = await startNamespace(t);
  spawnInNs('rpcbind', ['-w', '-f']);
  // rpcbind first: ganesha registers its programs at start.
  for (let i = 0; i < 50 && (await inNs('rpcinfo', ['-p', '127.0.0.1'])).code !== 0; i++) await sleep(100);
  spawnInNs('ganesha.nfsd', ['-F', '-f', configPath, '-L', join(dir, 'ganesha.log'), '-N', 'NIV_EVENT', '-p', pidFile]);

  const fs1 = nodeExportPaths(MAC1);
  let read = await inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]);
  for (let i = 0; i < 100 && read.code !== 0; i++) {
    await sleep(200);
    read = await inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]);
  }
  assert.equal(read.code, 0, `${read.stderr}\n${existsSync(join(dir, 'ganesha.log')) ? readFileSync(join(dir, 'ganesha.log'), 'utf8').slice(-2000) : ''}`);
  assert.equal(read.stdout, 'image A\n');

  // /persist is writable, and what the node writes lands in its own directory.
  const local = join(dir, 'note.txt');
  writeFileSync(local, 'kept across reboots\n');
  const wrote = await inNs('nfs-cp', [local, url(`${fs1.persist}/note.txt`)]);
  assert.equal(wrote.code, 0, wrote.stderr);
  assert.equal(readFileSync(join(persist1, 'note.txt'), 'utf8'), 'kept across reboots\n');

  // The image tree is not.
  const refused = await inNs('nfs-cp', [local, url(`${fs1.fs}/note.txt`)]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /ROFS|read-only/iu);
  assert.equal(existsSync(join(treeA, 'note.txt')), false);

  // The node switches to image B and a second node boots image A: re-exported without a restart.
  await backend.apply([{ mac: MAC1, tree: treeB, persist: persist1 }, { mac: MAC2, tree: treeA, persist: persist2 }]);
  let switched = await inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]);
  for (let i = 0; i < 100 && switched.stdout !== 'image B\n'; i++) {
    await sleep(200);
    switched = await inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]);
  }
  assert.equal(switched.stdout, 'image B\n', `${switched.stderr}\n${readFileSync(join(dir, 'ganesha.log'), 'utf8').split('\n').filter((l) => !l.includes('TIRPC')).slice(-15).join('\n')}`);
  const second = await inNs('nfs-cat', [url(`${nodeExportPaths(MAC2).fs}/etc/which`)]);
  assert.equal(second.stdout, 'image A\n', second.stderr);

  // A node removed from the set is no longer exported.
  await backend.apply([{ mac: MAC2, tree: treeA, persist: persist2 }]);
  let gone = await inNs('nfs-ls', [url(fs1.fs)]);
  for (let i = 0; i < 100 && gone.code === 0; i++) {
    await sleep(200);
    gone = await inNs('nfs-ls', [url(fs1.fs)]);
  }
  assert.notEqual(gone.code, 0);
});
