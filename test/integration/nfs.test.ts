import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGaneshaNfsBackend, nodeExportPaths } from '../../src/boot/index.ts';
import { scratch, type Result } from '../helpers.ts';
import { createCleanup, listExportsInNs, startNamespace, waitFor } from './nfs-support.ts';

const MAC1 = '52:54:00:12:34:01';
const MAC2 = '52:54:00:12:34:02';
const NFS_PORT = 2049;
const MOUNT_PORT = 20048;

function url(path: string): string {
  return `nfs://127.0.0.1${path}?version=3&nfsport=${NFS_PORT}&mountport=${MOUNT_PORT}`;
}

test('nodes mount their image tree read-only and their persist read-write over NFSv3 at WalT\'s paths; a re-export follows node changes', { timeout: 180_000 }, async (t) => {
  // Cleanups run in reverse: ganesha, rpcbind and the namespace are gone before the directory is removed.
  const cleanup = createCleanup(t);
  const dir = scratch(cleanup, 'kiln-nfs');
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
  const ns = await startNamespace(cleanup);
  const { inNs, spawnInNs } = ns;
  // The backend reads ganesha's export list where ganesha listens: in the namespace.
  const backend = createGaneshaNfsBackend({ configPath, pidFile, listen: { address: '127.0.0.1', nfsPort: NFS_PORT, mountPort: MOUNT_PORT }, listExports: listExportsInNs(ns, MOUNT_PORT) });
  await backend.apply([{ mac: MAC1, tree: treeA, persist: persist1 }]);

  spawnInNs('rpcbind', ['-w', '-f']);
  // rpcbind first: ganesha registers its programs at start.
  await waitFor('rpcbind to answer in the test namespace', () => inNs('rpcinfo', ['-p', '127.0.0.1']), (r) => r.code === 0, { signal: t.signal, describe: (r) => r.stderr });
  spawnInNs('ganesha.nfsd', ['-F', '-f', configPath, '-L', join(dir, 'ganesha.log'), '-N', 'NIV_EVENT', '-p', pidFile]);
  const log = (): string => (existsSync(join(dir, 'ganesha.log')) ? readFileSync(join(dir, 'ganesha.log'), 'utf8').split('\n').filter((l) => !l.includes('TIRPC')).slice(-15).join('\n') : '');
  const describe = (r: Result): string => `exit ${r.code}, ${JSON.stringify(r.stdout)} ${r.stderr}\nganesha's log:\n${log()}`;

  const fs1 = nodeExportPaths(MAC1);
  const read = await waitFor(`ganesha to start and serve ${fs1.fs}/etc/which`, () => inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]), (r) => r.code === 0, { signal: t.signal, describe });
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

  // The node switches to image B and a second node boots image A: re-exported without a restart,
  // and apply() returns once ganesha shows it, so the very next read sees it.
  await backend.apply([{ mac: MAC1, tree: treeB, persist: persist1 }, { mac: MAC2, tree: treeA, persist: persist2 }]);
  const switched = await inNs('nfs-cat', [url(`${fs1.fs}/etc/which`)]);
  assert.equal(switched.stdout, 'image B\n', describe(switched));
  const second = await inNs('nfs-cat', [url(`${nodeExportPaths(MAC2).fs}/etc/which`)]);
  assert.equal(second.stdout, 'image A\n', describe(second));

  // A node removed from the set is no longer exported.
  await backend.apply([{ mac: MAC2, tree: treeA, persist: persist2 }]);
  const gone = await inNs('nfs-ls', [url(fs1.fs)]);
  assert.notEqual(gone.code, 0, describe(gone));
});
