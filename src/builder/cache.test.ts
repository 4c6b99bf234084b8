import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneBuildCache } from './cache.ts';

test('gc of the build cache keeps what images use, and leaves everything while a build runs', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-build-cache-'));
  try {
    const root = join(home, 'cache', 'build');
    const [used, unused] = ['a'.repeat(64), 'b'.repeat(64)];
    for (const d of ['steps', 'blobs', 'layers', 'work']) mkdirSync(join(root, d), { recursive: true });
    for (const [key, hex] of [['k1', used], ['k2', unused]] as const) {
      writeFileSync(join(root, 'steps', `${key}.json`), JSON.stringify({ key, digest: `sha256:${hex}` }));
      writeFileSync(join(root, 'blobs', `${hex}.tar`), '');
      mkdirSync(join(root, 'layers', hex));
    }
    const keep = new Set([`sha256:${used}` as const]);
    mkdirSync(join(root, 'work', `build-${process.pid}-abc`));
    assert.equal(await pruneBuildCache(root, keep, (pid) => pid === process.pid), 0, 'a live build: nothing removed');
    assert.equal(readdirSync(join(root, 'steps')).length, 2);
    // The build's process is gone: its work directory and what no image uses go.
    assert.equal(await pruneBuildCache(root, keep, () => false), 3);
    assert.deepEqual(readdirSync(join(root, 'steps')), ['k1.json']);
    assert.deepEqual(readdirSync(join(root, 'blobs')), [`${used}.tar`]);
    assert.deepEqual(readdirSync(join(root, 'layers')), [used]);
    assert.deepEqual(readdirSync(join(root, 'work')), []);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
