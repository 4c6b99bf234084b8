import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { digestOf, MediaType } from '../core/index.ts';
import type { Descriptor } from './oci.ts';
import { readImageTree, readTreeFiles } from './tree.ts';

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; content?: string; linkname?: string };

async function makeTar(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const m of members) {
    if ((m.type ?? 'file') === 'file') pack.entry({ name: m.name, mode: 0o644 }, m.content ?? '');
    else pack.entry({ name: m.name, type: m.type, linkname: m.linkname, mode: 0o755 });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function imageOf(layers: Array<{ data: Buffer; gzip?: boolean }>) {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tree-'));
  const blobs = new Map<string, Buffer>();
  const descs: Descriptor[] = layers.map(({ data, gzip }) => {
    const bytes = gzip ? gzipSync(data) : data;
    const digest = digestOf(bytes);
    blobs.set(digest, bytes);
    writeFileSync(join(dir, digest.slice(7)), bytes);
    return { mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest, size: bytes.length };
  });
  const source = {
    openLayer: (l: Descriptor) => Readable.from([blobs.get(l.digest) as Buffer]),
    blobFile: (l: Descriptor) => join(dir, l.digest.slice(7)),
  };
  const tree = await readImageTree(descs, source.openLayer);
  return { tree, source, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the merged tree applies whiteouts, opaque directories and replacements in layer order', async () => {
  const { tree, cleanup } = await imageOf([
    { data: await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' }, { name: 'opt/x/y', content: 'y' }, { name: 'var/d/f', content: 'f' }]) },
    { data: await makeTar([{ name: 'etc/.wh.a' }, { name: 'opt/x/.wh..wh..opq' }, { name: 'opt/x/z', content: 'z' }, { name: 'var/d', content: 'now a file' }]), gzip: true },
  ]);
  try {
    assert.equal(tree.get('/etc/a'), undefined);
    assert.equal(tree.get('etc/b')?.layer, 0);
    assert.equal(tree.get('opt/x/y'), undefined, 'opaque directory hides lower content');
    assert.equal(tree.get('opt/x/z')?.layer, 1);
    assert.equal(tree.get('var/d')?.type, 'file');
    assert.equal(tree.get('var/d/f'), undefined, 'a file replacing a directory hides its content');
    assert.deepEqual(tree.children('etc').map((e) => e.path), ['etc/b']);
    assert.deepEqual(tree.children('').map((e) => [e.path, e.layer]), [['etc', 0], ['opt', -1], ['var', -1]], 'each name once; a listed directory keeps its layer');
    assert.deepEqual(tree.children('opt/x').map((e) => e.path), ['opt/x/z']);
    assert.equal(tree.resolve('opt/x').ok, true, 'a directory only implied by its members');
    assert.equal(tree.get('opt'), undefined, 'no layer lists it');
    assert.deepEqual([...tree.walk()].map((e) => e.path), ['etc', 'opt', 'var', 'var/d', 'opt/x', 'opt/x/z', 'etc/b']);
  } finally {
    cleanup();
  }
});

test('symlinks resolve inside the image root; loops and missing targets are findings', async () => {
  const { tree, source, cleanup } = await imageOf([
    { data: await makeTar([
      { name: 'usr/bin/busybox', content: 'BB' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
      { name: 'sbin/init', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'escape', type: 'symlink', linkname: '../../../../usr/bin/busybox' },
      { name: 'loop1', type: 'symlink', linkname: 'loop2' },
      { name: 'loop2', type: 'symlink', linkname: '/loop1' },
      { name: 'dangling', type: 'symlink', linkname: '/nowhere' },
      { name: 'usr/bin/hard', type: 'link', linkname: 'usr/bin/busybox' },
      { name: '../outside', content: 'x' },
    ]) },
  ]);
  try {
    const init = tree.resolve('/sbin/init');
    assert.ok(init.ok && init.path === 'usr/bin/busybox' && !init.escaped);
    const esc = tree.resolve('escape');
    assert.ok(esc.ok && esc.path === 'usr/bin/busybox' && esc.escaped, 'clamped at the image root, and flagged');
    const loop = tree.resolve('loop1');
    assert.ok(!loop.ok && loop.reason === 'loop');
    const dangling = tree.resolve('dangling');
    assert.ok(!dangling.ok && dangling.reason === 'missing');
    assert.deepEqual(tree.unsafe, ['../outside']);
    const files = await readTreeFiles(tree, ['/sbin/init', 'usr/bin/hard', 'loop1', 'bin'], source);
    assert.deepEqual(files.get('/sbin/init'), { ok: true, data: Buffer.from('BB'), truncated: false });
    assert.deepEqual(files.get('usr/bin/hard'), { ok: true, data: Buffer.from('BB'), truncated: false });
    assert.equal(files.get('loop1')?.ok, false);
    assert.equal(files.get('bin')?.ok, false);
  } finally {
    cleanup();
  }
});

test('file content is read from compressed layers too, up to a limit', async () => {
  const big = 'x'.repeat(100_000);
  const { tree, source, cleanup } = await imageOf([
    { data: await makeTar([{ name: 'a', content: 'first' }, { name: 'big', content: big }, { name: 'z', content: 'last' }]), gzip: true },
  ]);
  try {
    const files = await readTreeFiles(tree, ['a', 'z', 'big'], source, 1000);
    assert.deepEqual(files.get('a'), { ok: true, data: Buffer.from('first'), truncated: false });
    assert.deepEqual(files.get('z'), { ok: true, data: Buffer.from('last'), truncated: false });
    const b = files.get('big');
    assert.ok(b?.ok && b.truncated && b.data.length === 1000);
  } finally {
    cleanup();
  }
});

test('reading uncompressed layers in place and from the index cache gives the same tree as streaming them', async () => {
  const long = `deep/${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const data = await makeTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/small', content: 's' },
    { name: 'big', content: 'b'.repeat(300_000) },
    { name: long, content: 'long name (pax)' },
    { name: 'etc/link', type: 'symlink', linkname: `/${long}` },
    { name: 'etc/hard', type: 'link', linkname: 'etc/small' },
    { name: 'after-big', content: 'a' },
  ]);
  const { tree: streamed, source, cleanup } = await imageOf([{ data }]);
  const cacheDir = mkdtempSync(join(tmpdir(), 'kiln-tree-cache-'));
  try {
    const inPlace = await readImageTree(streamed.layers, () => { throw new Error('must not stream'); }, { blobFile: source.blobFile });
    assert.deepEqual([...inPlace.walk()], [...streamed.walk()]);
    assert.ok([...streamed.walk()].some((e) => e.path === long && e.size === 15));
    const first = await readImageTree(streamed.layers, source.openLayer, { blobFile: source.blobFile, cacheDir });
    const hex = streamed.layers[0]!.digest.slice(7);
    assert.ok(existsSync(join(cacheDir, `${hex}.index.db`)), 'the layer index is cached by digest');
    const cached = await readImageTree(streamed.layers, () => { throw new Error('must not stream'); }, { cacheDir });
    assert.deepEqual([...cached.walk()], [...first.walk()]);
    first.close();
    cached.close();
    writeFileSync(join(cacheDir, `${hex}.index.db`), 'SQLite format 3\0 damaged');
    const rebuilt = await readImageTree(streamed.layers, source.openLayer, { cacheDir });
    assert.deepEqual([...rebuilt.walk()], [...streamed.walk()], 'a damaged cache entry is rebuilt');
    rebuilt.close();
    const files = await readTreeFiles(inPlace, ['etc/link', { path: 'big', limit: 10 }, 'after-big'], source);
    assert.deepEqual(files.get('etc/link'), { ok: true, data: Buffer.from('long name (pax)'), truncated: false });
    assert.deepEqual(files.get('big'), { ok: true, data: Buffer.from('b'.repeat(10)), truncated: true });
    assert.deepEqual(files.get('after-big'), { ok: true, data: Buffer.from('a'), truncated: false });
  } finally {
    cleanup();
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a truncated or corrupt layer is BAD_ARCHIVE whether read in place or streamed', async () => {
  const whole = await makeTar([{ name: 'a', content: 'x'.repeat(5000) }, { name: 'b', content: 'y' }]);
  const corrupt = Buffer.from(whole);
  corrupt[5632] = 0x41; // inside the second header: its checksum no longer matches
  for (const data of [whole.subarray(0, 2048), corrupt]) {
    const digest = digestOf(data);
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tree-bad-'));
    try {
      writeFileSync(join(dir, 'blob'), data);
      const layers: Descriptor[] = [{ mediaType: MediaType.ociLayer, digest, size: data.length }];
      await assert.rejects(readImageTree(layers, () => Readable.from([data])), { code: 'BAD_ARCHIVE' });
      await assert.rejects(readImageTree(layers, () => Readable.from([data]), { blobFile: () => join(dir, 'blob') }), { code: 'BAD_ARCHIVE' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
