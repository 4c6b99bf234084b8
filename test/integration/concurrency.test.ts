import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { json, storeWithTwoSources } from '../helpers.ts';

test('concurrent imports, removals, duplicates and gc never corrupt the store or the catalog', async (t) => {
  // Two sources sharing nothing, and two images imported from the same source (shared blobs).
  const { home, kiln, a, b } = await storeWithTwoSources(t);

  const rounds = 3;
  for (let round = 0; round < rounds; round++) {
    const jobs: Array<Promise<{ code: number; stderr: string; what: string }>> = [];
    const go = (what: string, args: string[]): void => {
      jobs.push(kiln(args).then((r) => ({ ...r, what })));
    };
    for (let i = 0; i < 4; i++) {
      go(`import a${i}`, ['image', 'import', a, `a-${round}-${i}`, '--label', 'walt.node.models=m']);
      go(`import b${i}`, ['image', 'import', b, `b-${round}-${i}`, '--label', 'walt.node.models=m']);
    }
    if (round > 0) {
      for (let i = 0; i < 4; i++) go(`remove ${round - 1}/${i}`, ['image', 'remove', `a-${round - 1}-${i}`, `b-${round - 1}-${i}`]);
    }
    go('gc', ['store', 'gc']);
    go('duplicate', ['image', 'duplicate', 'keep', `keep-${round}`]);
    const results = await Promise.all(jobs);
    for (const r of results) assert.equal(r.code, 0, `${r.what}: ${r.stderr}`);
    const verify = await kiln(['store', 'verify', '--json']);
    assert.equal(verify.code, 0, verify.stdout);
  }
  const names = json<Array<{ name: string }>>(await kiln(['image', 'show', '--json'])).map((i) => i.name).sort();
  const expected = ['keep', ...Array.from({ length: rounds }, (_, r) => `keep-${r}`)];
  for (let i = 0; i < 4; i++) expected.push(`a-${rounds - 1}-${i}`, `b-${rounds - 1}-${i}`);
  assert.deepEqual(names, expected.sort());
  // After gc, exactly the blobs of the remaining images are left: the two shared layers, and a
  // config and manifest per import (each import has its own creation time); duplicates share.
  assert.equal((await kiln(['store', 'gc'])).code, 0);
  const blobs = (): number => json<{ ok: boolean; blobsChecked: number }>(verifyResult).blobsChecked;
  let verifyResult = await kiln(['store', 'verify', '--json']);
  assert.equal(blobs(), 2 + 2 * (1 + 8));
  assert.equal((await kiln(['image', 'remove', ...names])).code, 0);
  verifyResult = await kiln(['store', 'verify', '--json']);
  assert.equal(blobs(), 0, 'removing every image frees every blob');
  const treeCache = join(home, 'cache', 'tree');
  assert.ok(readdirSync(treeCache).length > 0, 'imports checked the images and cached their layer indexes');
  assert.equal((await kiln(['store', 'gc'])).code, 0);
  assert.deepEqual(readdirSync(treeCache), [], 'gc drops the cache of blobs that are gone');
});
