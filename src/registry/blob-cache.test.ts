import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneBlobCache } from './blob-cache.ts';

test('pruning the pull cache drops dead partials and blobs the store has, and keeps the rest', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-blob-cache-'));
  try {
    const dir = join(home, 'tmp', 'registry-blobs');
    mkdirSync(dir, { recursive: true });
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string];
    const files = [`${a}.partial.2147483646`, `${b}.partial.${process.pid}`, a, c];
    for (const f of files) writeFileSync(join(dir, f), 'x');
    const removed = await pruneBlobCache(dir, (digest) => digest === `sha256:${a}`);
    assert.equal(removed, 2);
    assert.deepEqual(readdirSync(dir).sort(), [`${b}.partial.${process.pid}`, c].sort(), 'a live partial and a blob the store lacks stay');
    assert.equal(await pruneBlobCache(join(home, 'nowhere'), () => true), 0);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
