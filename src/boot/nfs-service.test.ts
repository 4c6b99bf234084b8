import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../core/index.ts';
import { openStore, type NodeRecord } from '../store/index.ts';
import { commitTestImage } from '../store/testing.ts';
import { createNfsService } from './nfs-service.ts';
import { createNfsTrees, WALT_INIT } from './nfs-trees.ts';
import type { NfsNodeExport } from './nfs-exports.ts';
import type { NfsBackend } from './nfs.ts';

test('NFS service: one tree per image in use (with /bin/walt-init), persist per node, applies only changes, releases unused trees after the grace period', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-nfs-service-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const store = openStore({ home });
  t.after(() => store.close());
  const v1 = await commitTestImage(store, { user: 'alice', name: 'node', tag: 'v1' }, { files: { 'etc/which': 'v1\n', 'bin/walt-init': 'the image\'s own\n' } });
  const v2 = await commitTestImage(store, { user: 'alice', name: 'node', tag: 'v2' }, { files: { 'etc/which': 'v2\n' } });
  const node = (mac: string, image = v1.ref): NodeRecord => ({ mac, name: mac.slice(-2), model: 'pc-x86-64', image, owner: 'alice', settings: {} });
  let nodes = [node('52:54:00:00:00:01'), node('52:54:00:00:00:02')];
  const applied: NfsNodeExport[][] = [];
  const backend: NfsBackend = { kind: 'ganesha', apply: async (e) => void applied.push([...e]) };
  let clock = 0;
  const treesDir = join(home, 'trees');
  const service = createNfsService({
    backend, logger: silentLogger,
    trees: createNfsTrees(store, { dir: treesDir, graceMs: 60_000, now: () => clock }),
    nodes: () => nodes,
    findImage: (ref) => store.findImage(ref),
    persistDir: (mac) => join(home, 'persist', mac),
  });

  const first = await service.refresh();
  assert.equal(first.length, 2);
  assert.equal(first[0]?.tree, first[1]?.tree, 'two nodes on one image share its tree');
  const tree1 = first[0]?.tree as string;
  assert.equal(readFileSync(join(tree1, 'etc/which'), 'utf8'), 'v1\n');
  assert.deepEqual(readFileSync(join(tree1, 'bin/walt-init')), WALT_INIT, 'Kiln\'s init replaces the image\'s in the cache copy');
  assert.equal(statSync(join(tree1, 'bin/walt-init')).mode & 0o777, 0o755);
  for (const dir of ['run', 'proc', 'sys', 'dev', 'persist']) assert.ok(statSync(join(tree1, dir)).isDirectory(), dir);
  assert.notEqual(first[0]?.persist, first[1]?.persist);
  assert.ok(statSync(first[0]?.persist as string).isDirectory());

  // Nothing changed: nothing is applied again.
  await service.refresh();
  assert.equal(applied.length, 1);

  // One node moves to v2: applied once; v1 is still used by the other.
  nodes = [node('52:54:00:00:00:01', v2.ref), node('52:54:00:00:00:02')];
  const moved = await service.refresh();
  assert.equal(applied.length, 2);
  assert.notEqual(moved[0]?.tree, tree1);
  assert.equal(readFileSync(join(moved[0]?.tree as string, 'etc/which'), 'utf8'), 'v2\n');

  // The second node leaves: v1 is unused, kept for the grace period, then released.
  nodes = [node('52:54:00:00:00:01', v2.ref)];
  await service.refresh();
  clock += 59_000;
  await service.refresh();
  assert.ok(existsSync(tree1), 'kept within the grace period');
  clock += 2_000;
  await service.refresh();
  assert.equal(existsSync(tree1), false, 'released after it');
  assert.ok(existsSync(moved[0]?.tree as string));

  // A node whose image is gone keeps no export; the others go on.
  nodes = [node('52:54:00:00:00:01', v2.ref), node('52:54:00:00:00:03', { user: 'alice', name: 'gone', tag: 'latest' })];
  const partial = await service.refresh();
  assert.deepEqual(partial.map((e) => e.mac), ['52:54:00:00:00:01']);
});
