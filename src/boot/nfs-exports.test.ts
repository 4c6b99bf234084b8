import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGaneshaExportIds, nodeExportPaths, renderGaneshaConfig, renderKernelExports, sameExports, treeFsid } from './nfs-exports.ts';

const a = { mac: '52:54:00:00:00:01', tree: '/cache/trees/aaa/fs', persist: '/state/persist/52:54:00:00:00:01' };
const b = { mac: '52:54:00:00:00:02', tree: '/cache/trees/aaa/fs', persist: '/state/persist/52:54:00:00:00:02' };

test('a node mounts WalT\'s paths, by MAC', () => {
  assert.deepEqual(nodeExportPaths(a.mac), { fs: '/var/lib/walt/nodes/52:54:00:00:00:01/fs', persist: '/var/lib/walt/nodes/52:54:00:00:00:01/persist' });
});

test('ganesha: each node gets its tree read-only and its persist read-write at WalT\'s pseudo paths', () => {
  const conf = renderGaneshaConfig([b, a], { address: '127.0.0.1', nfsPort: 2049, mountPort: 20048 });
  assert.match(conf, /Export_Id = 1; Path = "\/cache\/trees\/aaa\/fs"; Pseudo = "\/var\/lib\/walt\/nodes\/52:54:00:00:00:01\/fs"; Access_Type = RO;/u);
  assert.match(conf, /Export_Id = 2; Path = "\/state\/persist\/52:54:00:00:00:01"; Pseudo = "\/var\/lib\/walt\/nodes\/52:54:00:00:00:01\/persist"; Access_Type = RW;/u);
  assert.match(conf, /Export_Id = 3; .*00:02\/fs"; Access_Type = RO;/u);
  assert.match(conf, /Mount_Path_Pseudo = true;/u);
  assert.match(conf, /Protocols = 3;/u);
});

test('kernel: one read-only line per tree with its fsid, one read-write line per persist directory', () => {
  const text = renderKernelExports([a, b], '192.168.152.0/22');
  const lines = text.trim().split('\n').slice(1);
  assert.equal(lines.length, 4);
  assert.equal(lines[0], '"/var/lib/walt/nodes" 192.168.152.0/22(ro,sync,no_root_squash,no_subtree_check)');
  assert.equal(lines[1], `"/cache/trees/aaa/fs" 192.168.152.0/22(ro,sync,no_root_squash,no_subtree_check,fsid=${treeFsid(a.tree)})`);
  assert.match(lines[2] as string, /^"\/state\/persist\/52:54:00:00:00:01" .*\(rw,/u);
});

test('an fsid is a stable UUID per tree', () => {
  assert.match(treeFsid('/x'), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u);
  assert.equal(treeFsid('/x'), treeFsid('/x'));
  assert.notEqual(treeFsid('/x'), treeFsid('/y'));
});

test('a path that would break the file is refused', () => {
  assert.throws(() => renderGaneshaConfig([{ ...a, tree: '/a"b' }], { address: '127.0.0.1', nfsPort: 1, mountPort: 2 }), RangeError);
});

test('export sets compare without order', () => {
  assert.equal(sameExports([a, b], [b, a]), true);
  assert.equal(sameExports([a, b], [a, { ...b, tree: '/other' }]), false);
});

test('ganesha export ids stay with unchanged exports; a moved export gets an id nobody used in that reload', () => {
  const ids = createGaneshaExportIds();
  assert.deepEqual(ids.assign(['x', 'y']), [1, 2]);
  assert.deepEqual(ids.assign(['y', 'z']), [2, 3]);
  assert.deepEqual(ids.assign(['y', 'w']), [2, 4]);
});
