import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch } from '../helpers.ts';
import { busyboxRoot, importRoot, mountsUnder } from '../image-edit.ts';
import { openStore, parseImageRef } from '../../src/store/index.ts';
import { hasChanges, mountImage, readStoredImage, saveEdit } from '../../src/builder/index.ts';

test('a save that would pass the layer limit (WalT: 128) squashes the image into one layer instead of failing, with every file kept', { timeout: 120_000 }, async (t) => {
  const dir = scratch(t, 'kiln-edit-limit');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  await importRoot(kiln, dir, busyboxRoot(dir), 'img');
  writeFileSync(join(dir, 'one'), '1\n');
  assert.equal((await kiln(['image', 'cp', join(dir, 'one'), 'img:/root/'])).code, 0);

  const store = openStore({ home });
  t.after(() => store.close());
  const ref = parseImageRef('img', 'alice');
  const image = await readStoredImage(store, store.getImage(ref));
  assert.equal(image.manifest.layers.length, 2);
  const mounted = await mountImage(store, image);
  try {
    writeFileSync(join(mounted.merged, 'root', 'two'), '2\n');
    await mounted.unmount();
    assert.equal(await hasChanges(mounted), true);
    // The limit made small so that the third layer passes it.
    const saved = await saveEdit(store, mounted, { target: ref, force: true, createdBy: 'test', maxLayers: 2 });
    assert.equal(saved.squashed, true);
    assert.equal(saved.layers, 1);
  } finally {
    await mounted.dispose();
  }
  assert.deepEqual(mountsUnder(home), []);
  for (const [name, text] of [['one', '1\n'], ['two', '2\n']] as const) {
    const out = join(dir, `out-${name}`);
    assert.equal((await kiln(['image', 'cp', `img:/root/${name}`, out])).code, 0);
    assert.equal(readFileSync(out, 'utf8'), text);
  }
});
