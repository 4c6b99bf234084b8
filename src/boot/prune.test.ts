import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../core/index.ts';
import { pruneBootCache } from './prune.ts';

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;

test('pruneBootCache keeps files of layers and artifacts of manifests that still exist', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'files'), { recursive: true });
  mkdirSync(join(dir, 'artifacts', 'c'.repeat(64)), { recursive: true });
  mkdirSync(join(dir, 'artifacts', 'd'.repeat(64)), { recursive: true });
  writeFileSync(join(dir, 'files', `${'a'.repeat(64)}-1024`), 'kept');
  writeFileSync(join(dir, 'files', `${'b'.repeat(64)}-512`), 'gone');
  assert.equal(await pruneBootCache(dir, new Set([d('a')]), new Set([d('c')])), 2);
  assert.deepEqual(readdirSync(join(dir, 'files')), [`${'a'.repeat(64)}-1024`]);
  assert.deepEqual(readdirSync(join(dir, 'artifacts')), ['c'.repeat(64)]);
  assert.equal(await pruneBootCache(join(dir, 'missing'), new Set(), new Set()), 0);
});
