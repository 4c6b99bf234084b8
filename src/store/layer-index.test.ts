import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ScannedMember } from '../core/index.ts';
import { createLayerIndexWriter, openLayerIndex } from './layer-index.ts';

function member(name: string, extra: Partial<ScannedMember> = {}): ScannedMember {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, linkname: '', devmajor: 0, devminor: 0, offset: 512, ...extra };
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-index-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a layer index gives back what was written: attributes, xattrs, links, last duplicate, implied directories', () => withDir((dir) => {
  const file = join(dir, 'layer.index.db');
  const writer = createLayerIndexWriter(file);
  const members = [
    member('./', { type: 'directory', mode: 0o700 }),
    member('./etc/passwd', { size: 1234, offset: 2048, uid: 7, gid: 8, mode: 0o600, xattrs: { 'user.a': 'b' } }),
    member('usr/bin/tool', { size: 2 ** 40, offset: 2 ** 41, mode: 0o4755 }),
    member('bin', { type: 'symlink', linkname: 'usr/bin' }),
    member('usr/bin/hard', { type: 'hardlink', linkname: './usr/bin/tool' }),
    member('dev/null', { type: 'char', devmajor: 1, devminor: 3 }),
    member('etc/passwd', { size: 99, offset: 9999 }),
    member('etc/shadow', { xattrs: { 'security.capability': 'x', 'user.é': 'ü' } }),
  ];
  for (const m of members) writer.add(m);
  writer.finish();
  const index = openLayerIndex(file);
  assert.ok(index);
  try {
    assert.equal(index.get('', '')?.mode, 0o700, 'the root directory');
    assert.deepEqual(index.get('etc', 'passwd'), { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 99, linkname: '', offset: 9999 }, 'the last of two members wins');
    assert.deepEqual(index.get('usr/bin', 'tool'), { type: 'file', mode: 0o4755, uid: 0, gid: 0, size: 2 ** 40, linkname: '', offset: 2 ** 41 });
    assert.equal(index.get('usr/bin', 'hard')?.linkname, 'usr/bin/tool', 'hardlink targets are normalised');
    assert.equal(index.get('', 'bin')?.linkname, 'usr/bin');
    assert.equal(index.get('usr', 'bin')?.type, 'implied');
    assert.equal(index.get('', 'usr')?.type, 'implied');
    assert.deepEqual([...index.children('')].map((c) => [c.name, c.entry.type]), [['bin', 'symlink'], ['dev', 'implied'], ['etc', 'implied'], ['usr', 'implied']]);
    assert.deepEqual(index.get('etc', 'shadow')?.xattrs, { 'security.capability': 'x', 'user.é': 'ü' });
    assert.deepEqual([...index.children('etc')].map((c) => [c.name, c.entry.offset]), [['passwd', 9999], ['shadow', 512]]);
    assert.equal(index.get('etc', 'missing'), undefined);
    assert.deepEqual(index.unsafe, { names: [], count: 0 });
  } finally {
    index.close();
  }
}));

test('a layer index keeps whiteouts and opaque markers apart, and the unsafe names', () => withDir((dir) => {
  const file = join(dir, 'layer.index.db');
  const writer = createLayerIndexWriter(file);
  for (const m of [member('etc/.wh.gone'), member('.wh.top'), member('opt/x/.wh..wh..opq'), member('opt/x/new'), member('../escape'), member('a/../../b'), member('ok/link', { type: 'hardlink', linkname: '../../etc/shadow' })]) writer.add(m);
  writer.finish();
  const index = openLayerIndex(file);
  assert.ok(index);
  try {
    assert.equal(index.whitedOut('etc/gone'), true);
    assert.equal(index.whitedOut('top'), true);
    assert.equal(index.whitedOut('etc'), false);
    assert.equal(index.opaque('opt/x'), true);
    assert.equal(index.opaque('opt'), false);
    assert.equal(index.get('etc', '.wh.gone'), undefined, 'a whiteout is not an entry');
    assert.deepEqual([...index.children('opt/x')].map((c) => c.name), ['new']);
    assert.deepEqual(index.unsafe, { names: ['../escape', 'a/../../b', 'ok/link'], count: 3 });
  } finally {
    index.close();
  }
}));

test('an index of another version, unfinished or damaged is not opened (it is rebuilt)', () => withDir((dir) => {
  const good = join(dir, 'good.index.db');
  const writer = createLayerIndexWriter(good);
  writer.add(member('a'));
  writer.finish();
  const old = new DatabaseSync(good);
  old.exec('PRAGMA user_version = 1');
  old.close();
  assert.equal(openLayerIndex(good), undefined, 'other version');
  const partial = createLayerIndexWriter(join(dir, 'partial.index.db'));
  partial.add(member('a'));
  assert.equal(openLayerIndex(join(dir, 'partial.index.db')), undefined, 'unfinished');
  writeFileSync(join(dir, 'junk.index.db'), 'not a database at all');
  assert.equal(openLayerIndex(join(dir, 'junk.index.db')), undefined, 'damaged');
  assert.equal(openLayerIndex(join(dir, 'absent.index.db')), undefined, 'absent');
}));
