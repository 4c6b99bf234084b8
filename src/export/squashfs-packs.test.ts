import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { DATA_UNCOMPRESSED } from './squashfs-format.ts';
import { boundPacks, openBlockPacks, prunePacks, type PackedBlock } from './squashfs-packs.ts';

function scratch(t: test.TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-packs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An "image" of two stored blocks (one deflated, one raw) and the index entries of its pack. */
function image(dir: string, name: string, a: string, b: string): { file: string; blocks: PackedBlock[] } {
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat([Buffer.alloc(96), Buffer.from(a), Buffer.from(b)]));
  return {
    file,
    blocks: [
      { key: hash('sha256', `raw ${a}`, 'hex'), start: 96, sizeField: a.length },
      { key: hash('sha256', `raw ${b}`, 'hex'), start: 96 + a.length, sizeField: b.length | DATA_UNCOMPRESSED },
    ],
  };
}

test('block packs serve the blocks an earlier image holds, by key, raw or deflated', async (t) => {
  const dir = scratch(t);
  const packs = join(dir, 'packs');
  const one = image(dir, 'one.sqfs', 'deflated-bytes', 'raw-bytes');
  const writer = await openBlockPacks(packs);
  await writer.add(one.file, one.blocks);
  await writer.close();

  const reader = await openBlockPacks(packs);
  t.after(() => reader.close());
  const [a, b] = one.blocks as [PackedBlock, PackedBlock];
  assert.ok(reader.has(a.key) && reader.has(b.key));
  assert.deepEqual(await reader.get(a.key), { bytes: Buffer.from('deflated-bytes'), raw: false });
  assert.deepEqual(await reader.get(b.key), { bytes: Buffer.from('raw-bytes'), raw: true });
  assert.equal(reader.has(hash('sha256', 'other', 'hex')), false);
  assert.equal(await reader.get(hash('sha256', 'other', 'hex')), undefined);
});

test('a pack written into after it was indexed (an exported hard link edited) is not trusted, and gc removes it', async (t) => {
  const dir = scratch(t);
  const packs = join(dir, 'packs');
  const one = image(dir, 'one.sqfs', 'aaaa', 'bbbb');
  const writer = await openBlockPacks(packs);
  await writer.add(one.file, one.blocks);
  await writer.close();
  // The exported file and the pack are one inode: writing into the export changes the pack.
  appendFileSync(one.file, 'more');
  const reader = await openBlockPacks(packs);
  assert.equal(reader.has((one.blocks[0] as PackedBlock).key), false);
  await reader.close();
  assert.equal(await prunePacks(packs, new Set(one.blocks.map((b) => b.key))), 2);
  assert.deepEqual(readdirSync(packs), []);
});

test('gc keeps the packs a record needs, drops the others and the halves a dead writer left; the bound evicts the least recently used', async (t) => {
  const dir = scratch(t);
  const packs = join(dir, 'packs');
  const one = image(dir, 'one.sqfs', 'aaaa', 'bbbb');
  const two = image(dir, 'two.sqfs', 'cccc', 'dddd');
  const writer = await openBlockPacks(packs);
  await writer.add(one.file, one.blocks);
  await writer.add(two.file, two.blocks);
  await writer.close();
  // A pack whose writer (a pid that cannot run) died before its index was written.
  writeFileSync(join(packs, '999999999-00ff.pack'), 'half');
  const [first] = readdirSync(packs).filter((n) => n.endsWith('.idx')).sort();
  assert.ok(first);

  // The bound: make the first pack the least recently used; a bound of one pack evicts it.
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(join(packs, first), old, old);
  const size = 96 + 8;
  assert.deepEqual(await boundPacks([packs], size), { bytes: size, removed: 1 });
  assert.ok(!readdirSync(packs).includes(first), 'the least recently used pack went');

  // gc: the remaining pack is needed by a record; the dead writer's half goes.
  const left = await openBlockPacks(packs);
  const kept = [...one.blocks, ...two.blocks].filter((b) => left.has(b.key)).map((b) => b.key);
  await left.close();
  assert.equal(kept.length, 2);
  assert.equal(await prunePacks(packs, new Set(kept)), 1);
  assert.equal(readdirSync(packs).length, 2);
  assert.equal(await prunePacks(packs, new Set()), 2);
  assert.deepEqual(readdirSync(packs), []);
});
