import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  HashingStream, assertContent, digestOf, isKilnError, parseDigest, scanTarFile, run, safeMemberName, sniffCompression,
  KilnError, DEFAULT_HINTS, ErrorCode, decodeTarHeader, encodeDirectoryHeader, readTarEntries,
  tempSibling, tempSiblingOwner, writeFileReplacing,
} from './index.ts';

test('safeMemberName normalises names and refuses ".."', () => {
  const cases: Array<[string, string | undefined]> = [
    ['./etc/passwd', 'etc/passwd'],
    ['/abs/path', 'abs/path'],
    ['a//b/./c/', 'a/b/c'],
    ['../etc', undefined],
    ['a/../../b', undefined],
    ['a/..', undefined],
    ['.', ''],
  ];
  for (const [input, expected] of cases) assert.equal(safeMemberName(input), expected, input);
});

test('sniffCompression recognises magic bytes', () => {
  const cases: Array<[number[], string]> = [
    [[0x1f, 0x8b, 8], 'gzip'],
    [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
    [[0x42, 0x5a, 0x68], 'bzip2'],
    [[0x2e, 0x2f, 0, 0], 'none'],
    [[], 'none'],
  ];
  for (const [bytes, expected] of cases) assert.equal(sniffCompression(Uint8Array.from(bytes)), expected);
});

test('digests: parse, compute while streaming, and compare', async () => {
  assert.throws(() => parseDigest('sha256:abc'), (e) => isKilnError(e, 'BAD_ARCHIVE'));
  assert.throws(() => parseDigest(`md5:${'a'.repeat(64)}`));
  const hashing = new HashingStream();
  await pipeline(Readable.from([Buffer.from('hel'), Buffer.from('lo')]), hashing, new Writable({ write: (_c, _e, cb) => cb() }));
  assert.equal(hashing.digest, digestOf('hello'));
  assert.equal(hashing.size, 5);
  assert.throws(() => assertContent('x', { digest: digestOf('a'), size: 2 }, { digest: digestOf('a'), size: 1 }), (e) => isKilnError(e, 'SIZE_MISMATCH'));
  assert.throws(() => assertContent('x', { digest: digestOf('a') }, { digest: digestOf('b'), size: 1 }), (e) => isKilnError(e, 'DIGEST_MISMATCH'));
});

test('every error code has a default hint', () => {
  for (const code of Object.values(ErrorCode)) {
    assert.ok(DEFAULT_HINTS[code].length > 10, code);
    assert.equal(new KilnError(code, 'm').hint, DEFAULT_HINTS[code]);
  }
  assert.equal(new KilnError('IO', 'm', { hint: 'specific' }).hint, 'specific');
});

test('run() names the package of a missing tool and reports failures with stderr', async () => {
  await assert.rejects(run('mksquashfs-does-not-exist', []), (e) => isKilnError(e, 'TOOL_MISSING') && /mksquashfs-does-not-exist not found/.test(e.message));
  await assert.rejects(run('sh', ['-c', 'echo boom >&2; exit 3']), (e) => isKilnError(e, 'TOOL_FAILED') && /sh failed \(exit status 3\): boom/.test(e.message));
  assert.equal(await run('sh', ['-c', 'echo out']), 'out\n');
});

test('scanTarFile reads member headers without reading contents, long names included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-peek-'));
  try {
    const long = `${'d'.repeat(120)}/file`;
    mkdirSync(join(dir, 'src', 'd'.repeat(120)), { recursive: true });
    writeFileSync(join(dir, 'src', long), 'x'.repeat(5000));
    writeFileSync(join(dir, 'src', 'manifest.json'), '[]');
    for (const format of ['gnu', 'posix']) {
      const file = join(dir, `${format}.tar`);
      execFileSync('tar', ['-C', join(dir, 'src'), `--format=${format}`, '-cf', file, '.']);
      const names = scanTarFile(file, file, 10)?.map((e) => e.name) ?? [];
      assert.ok(names.includes('./manifest.json'), `${format}: ${names.join(',')}`);
      assert.ok(names.includes(`./${long}`), `${format} long name`);
    }
    writeFileSync(join(dir, 'junk'), 'not a tar');
    assert.equal(scanTarFile(join(dir, 'junk'), 'junk', 10), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory header Kiln writes decodes as the directory it names', () => {
  const block = encodeDirectoryHeader('proc', 1_700_000_000);
  const decoded = decodeTarHeader(block, { pax: {} }, 512, 'test');
  assert.equal(decoded.kind, 'member');
  if (decoded.kind === 'member') assert.deepEqual([decoded.member.name, decoded.member.type, decoded.member.mode], ['proc/', 'directory', 0o755]);
});

test('readTarEntries refuses a member whose size field does not decode, instead of waiting for its data', async () => {
  const header = Buffer.alloc(512);
  const field = (at: number, text: string): void => void header.write(text, at, 'latin1');
  field(0, 'link');
  field(100, '0000777\0');
  field(108, '0000000\0');
  field(116, '0000000\0');
  header.set([0xe2, 0x6f, 0x7c, 0xfb, 0xdb, 0xf9, 0x8f, 0x74, 0x0f, 0x13, 0x06, 0x56], 124); // neither octal nor base-256
  field(136, '00000000000\0');
  field(156, '2');
  field(157, 'target');
  field(257, 'ustar\0');
  field(263, '00');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  field(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  const tar = Buffer.concat([header, Buffer.alloc(1024)]);
  await assert.rejects(
    readTarEntries(Readable.from([tar]), 'mutant.tar', async () => undefined),
    (err: unknown) => isKilnError(err, 'BAD_ARCHIVE') && /invalid size field/.test(err.message),
  );
});

test('writeFileReplacing replaces a file whole and leaves no temporary file, also when the write fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-replace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  await writeFileReplacing(path, 'one');
  await writeFileReplacing(path, 'two');
  assert.equal(readFileSync(path, 'utf8'), 'two');
  await assert.rejects(writeFileReplacing(join(dir, 'missing', 'f'), 'x'));
  assert.deepEqual(readdirSync(dir), ['f']);
  const tmp = tempSibling(path);
  assert.equal(tempSiblingOwner(tmp.slice(dir.length + 1)), process.pid);
  assert.equal(tempSiblingOwner('f'), undefined);
});
