import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { createBlockCompressor } from './block-compressor.ts';
import { openBlockPacks } from './squashfs-packs.ts';
import { SquashfsWriter, type SqfsEntry } from './squashfs-writer.ts';

const IS_ROOT = process.getuid?.() === 0;

async function* chunks(data: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += 50_000) yield data.subarray(i, i + 50_000);
}

/** Writes `files` (path -> entry, with `content` for regular files) and returns the image path; `cacheDir` holds the block cache. */
async function build(dir: string, name: string, specs: Array<Omit<SqfsEntry, 'data'> & { content?: Buffer }>, cacheDir?: string): Promise<{ image: string; writer: SquashfsWriter }> {
  const image = join(dir, name);
  const fh = await open(image, 'w');
  const compressor = createBlockCompressor({ level: 9 });
  const cache = cacheDir === undefined ? undefined : await openBlockPacks(cacheDir);
  const writer = new SquashfsWriter(fh, { compressor, cache });
  const entries = new Map<string, SqfsEntry>();
  for (const s of specs) {
    const { content, ...e } = s;
    const entry: SqfsEntry = { ...e };
    if (e.kind === 'file') entry.data = await writer.addFile(content?.length ?? 0, chunks(content ?? Buffer.alloc(0)));
    entries.set(e.path, entry);
  }
  await writer.finish(entries);
  await compressor.close();
  await fh.close();
  await cache?.add(image, writer.placed);
  await cache?.close();
  return { image, writer };
}

const base = { mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 };
const big = randomBytes(300_000);
const text = Buffer.from('hello squashfs\n'.repeat(20_000));

function specs(): Array<Omit<SqfsEntry, 'data'> & { content?: Buffer }> {
  const many = Array.from({ length: 3000 }, (_, i) => ({ ...base, path: `many/entry-with-a-long-name-${String(i).padStart(5, '0')}`, kind: 'file' as const, mode: 0o644, content: Buffer.from(`n${i}\n`) }));
  return [
    { ...base, path: '', kind: 'dir' },
    { ...base, path: 'etc', kind: 'dir', uid: 1000, gid: 1001, mode: 0o750 },
    { ...base, path: 'etc/empty', kind: 'file', mode: 0o600, content: Buffer.alloc(0) },
    { ...base, path: 'etc/big', kind: 'file', mode: 0o644, content: big },
    { ...base, path: 'etc/text', kind: 'file', mode: 0o644, content: text, xattrs: { 'user.note': Buffer.from('v1'), 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) } },
    { ...base, path: 'etc/hard', kind: 'hardlink', target: 'etc/text' },
    { ...base, path: 'etc/link', kind: 'symlink', mode: 0o777, target: '../etc/text' },
    { ...base, path: 'etc/same', kind: 'file', mode: 0o4755, content: Buffer.from('tail\n') },
    { ...base, path: 'etc/same2', kind: 'file', mode: 0o644, uid: 7, content: Buffer.from('tail\n') },
    { ...base, path: 'dev', kind: 'dir', xattrs: { 'user.dir': Buffer.from('d') } },
    { ...base, path: 'dev/null', kind: 'char', mode: 0o666, major: 1, minor: 3 },
    { ...base, path: 'dev/sda', kind: 'block', mode: 0o660, major: 8, minor: 17 },
    { ...base, path: 'dev/fifo', kind: 'fifo', mode: 0o644 },
    { ...base, path: 'empty', kind: 'dir', mode: 0o700 },
    { ...base, path: 'many', kind: 'dir' },
    ...many,
  ];
}

test('SquashfsWriter round-trips through unsquashfs: listing, contents, hardlinks, symlinks, devices, FIFOs, xattrs, a big directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sqfs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { image } = await build(dir, 'a.sqfs', specs());
  const list = execFileSync('unsquashfs', ['-lln', '-n', image], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.match(list, /drwxr-x--- 1000\/1001 +\d+ [\d-]+ [\d:]+ squashfs-root\/etc\n/);
  assert.match(list, /crw-rw-rw- 0\/0 +1, +3 .* squashfs-root\/dev\/null/);
  assert.match(list, /brw-rw---- 0\/0 +8, +17 .* squashfs-root\/dev\/sda/);
  assert.match(list, /prw-r--r-- 0\/0 .* squashfs-root\/dev\/fifo/);
  assert.match(list, /-rwsr-xr-x 0\/0 +5 .* squashfs-root\/etc\/same\n/);
  assert.match(list, /-rw-r--r-- 7\/0 +5 .* squashfs-root\/etc\/same2\n/);
  assert.match(list, /lrwxrwxrwx 0\/0 .* squashfs-root\/etc\/link -> \.\.\/etc\/text/);
  assert.equal((list.match(/squashfs-root\/many\//g) ?? []).length, 3000);
  const out = join(dir, 'x');
  execFileSync('unsquashfs', ['-n', '-d', out, image], { stdio: 'ignore' });
  assert.deepEqual(readFileSync(join(out, 'etc/big')), big);
  assert.deepEqual(readFileSync(join(out, 'etc/text')), text);
  assert.equal(readFileSync(join(out, 'etc/empty')).length, 0);
  assert.equal(readFileSync(join(out, 'many/entry-with-a-long-name-02999'), 'utf8'), 'n2999\n');
  assert.equal(readlinkSync(join(out, 'etc/link')), '../etc/text');
  assert.equal(lstatSync(join(out, 'etc/hard')).ino, lstatSync(join(out, 'etc/text')).ino, 'hardlinks share an inode');
  assert.equal(lstatSync(join(out, 'etc/text')).nlink, 2);
  assert.equal(lstatSync(join(out, 'etc/text')).mtimeMs, 1_700_000_000_000);
  const xattrs = execFileSync('getfattr', ['-d', '-m', '-', '-e', 'hex', join(out, 'etc/text'), join(out, 'dev')], { encoding: 'utf8' });
  assert.match(xattrs, /user\.note=0x7631/);
  if (IS_ROOT) assert.match(xattrs, /security\.capability=0x0100000220/);
  assert.match(xattrs, /user\.dir=0x64/);
  // A directory lookup through the index: unsquashfs -e extracts one path by name.
  const one = join(dir, 'one');
  execFileSync('unsquashfs', ['-n', '-d', one, image, 'many/entry-with-a-long-name-02500'], { stdio: 'ignore' });
  assert.equal(readFileSync(join(one, 'many/entry-with-a-long-name-02500'), 'utf8'), 'n2500\n');
});

test('SquashfsWriter serves unchanged blocks from the cache: a second image that adds files reuses most of the first one\'s', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-sqfs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cache = join(dir, 'blocks');
  const first = await build(dir, 'a.sqfs', specs(), cache);
  assert.equal(first.writer.stats.cached, 0);
  const more = [...specs(), { ...base, path: 'etc/added', kind: 'file' as const, content: randomBytes(1000) }];
  const second = await build(dir, 'b.sqfs', more, cache);
  assert.ok(second.writer.stats.cached >= second.writer.stats.blocks - 3, JSON.stringify(second.writer.stats));
  const out = join(dir, 'x');
  execFileSync('unsquashfs', ['-n', '-d', out, second.image], { stdio: 'ignore' });
  assert.deepEqual(readFileSync(join(out, 'etc/big')), big);
  assert.equal(readFileSync(join(out, 'many/entry-with-a-long-name-01234'), 'utf8'), 'n1234\n');
});
