import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeExportPaths } from '../../src/boot/index.ts';
import { kilnFor, okFor, scratch, tarDir, type Result } from '../helpers.ts';
import { createCleanup, startKilnServe, startNamespace, waitFor } from './nfs-support.ts';

const MAC = '52:54:00:12:35:01';
const NFS_PORT = 2049;
const MOUNT_PORT = 20048;
const INIT = readFileSync(new URL('../../src/boot/node-init/walt-init.sh', import.meta.url), 'utf8');

function nodeRoot(dir: string, version: string): string {
  const root = join(dir, `root-${version}`);
  for (const d of ['etc', 'boot/pc-x86-64', 'usr/bin']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/which'), `image ${version}\n`);
  writeFileSync(join(root, 'boot/pc-x86-64/start.ipxe'), '#!ipxe\n');
  return root;
}

function url(path: string): string {
  return `nfs://127.0.0.1${path}?version=3&nfsport=${NFS_PORT}&mountport=${MOUNT_PORT}`;
}

test('kiln serve with server.nfs: ganesha exports a node\'s image at WalT\'s path, with /bin/walt-init, and follows `kiln node boot`', { timeout: 240_000 }, async (t) => {
  // Cleanups run in reverse: kiln serve, ganesha, rpcbind and the namespace are gone before the directory is removed.
  const cleanup = createCleanup(t);
  const dir = scratch(cleanup, 'kiln-nfs-serve');
  const home = join(dir, 'home');
  const ok = okFor(kilnFor(home));
  for (const v of ['v1', 'v2']) await ok(['image', 'import', tarDir(nodeRoot(dir, v), join(dir, `${v}.tar`), 'gzip'), `node:${v}`, '--label', 'walt.node.models=pc-x86-64', '--platform', 'linux/amd64']);
  await ok(['node', 'register', MAC, '--model', 'pc-x86-64', '--name', 'pc1', '--ip', '127.0.0.1', '--image', 'node:v1']);
  const configPath = join(dir, 'ganesha.conf');
  const pidFile = join(dir, 'ganesha.pid');
  const config = join(dir, 'kiln.yaml');
  writeFileSync(config, ['server:', '  address: 127.0.0.1', '  http_port: 0', '  tftp_port: 0', '  nfs: ganesha',
    `  nfs_ganesha_config: ${configPath}`, `  nfs_ganesha_pid: ${pidFile}`, `  nfs_port: ${NFS_PORT}`, `  nfs_mount_port: ${MOUNT_PORT}`, ''].join('\n'));

  // kiln serve runs in the namespace too: it reads ganesha's export list there to know when a reload is done.
  const ns = await startNamespace(cleanup);
  const { inNs, spawnInNs } = ns;
  const serve = await startKilnServe(cleanup, { KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: config }, { ns });
  assert.equal(serve.listening.nfs, 'ganesha');
  assert.equal(existsSync(configPath), true, 'the exports are written before kiln serve says it listens');

  spawnInNs('rpcbind', ['-w', '-f']);
  // rpcbind first: ganesha registers its programs at start.
  await waitFor('rpcbind to answer in the test namespace', () => inNs('rpcinfo', ['-p', '127.0.0.1']), (r) => r.code === 0, { signal: t.signal, describe: (r) => r.stderr });
  spawnInNs('ganesha.nfsd', ['-F', '-f', configPath, '-L', join(dir, 'ganesha.log'), '-N', 'NIV_EVENT', '-p', pidFile]);
  const log = (): string => (existsSync(join(dir, 'ganesha.log')) ? readFileSync(join(dir, 'ganesha.log'), 'utf8').split('\n').filter((l) => !l.includes('TIRPC')).slice(-15).join('\n') : '');

  const paths = nodeExportPaths(MAC);
  /** Reads a file over NFS until it says `want` (ganesha starts, then reloads, on its own time). */
  const readUntil = (path: string, want: string): Promise<Result> => waitFor(`nfs-cat ${path} to read ${JSON.stringify(want)}`,
    () => inNs('nfs-cat', [url(path)]), (r) => r.stdout === want,
    { signal: t.signal, describe: (r) => `exit ${r.code}, ${JSON.stringify(r.stdout)} ${r.stderr}\nganesha's log:\n${log()}\nkiln serve:\n${serve.stderr()}` });
  await readUntil(`${paths.fs}/etc/which`, 'image v1\n');
  // Kiln's init is in the tree the node mounts (not in the stored image), and so is the /run it mounts a tmpfs on.
  assert.equal((await inNs('nfs-cat', [url(`${paths.fs}/bin/walt-init`)])).stdout, INIT);
  assert.equal((await inNs('nfs-ls', [url(`${paths.fs}/run`)])).code, 0);
  const stored = await ok(['image', 'inspect', 'node:v1', '--json']);
  assert.doesNotMatch(stored.stdout, /walt-init/u);
  // The node's persist directory is exported read-write.
  writeFileSync(join(dir, 'note'), 'persisted\n');
  const wrote = await inNs('nfs-cp', [join(dir, 'note'), url(`${paths.persist}/note`)]);
  assert.equal(wrote.code, 0, wrote.stderr);

  // Another process points the node at v2: the running server re-exports without a restart.
  await ok(['node', 'boot', 'pc1', 'node:v2']);
  await readUntil(`${paths.fs}/etc/which`, 'image v2\n');
  // /persist follows the node, not the image.
  await readUntil(`${paths.persist}/note`, 'persisted\n');
  assert.doesNotMatch(serve.stderr(), /nfs: .*did not show/u, 'every reload showed within its bound');
});
