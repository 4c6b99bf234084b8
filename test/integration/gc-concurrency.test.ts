import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, json, storeWithTwoSources } from '../helpers.ts';

test('gc of 1,000 unreferenced blobs beside a process holding the write lock and concurrent imports keeps every image intact', async (t) => {
  const { home, kiln, a, b } = await storeWithTwoSources(t);
  const blobsDir = join(home, 'store', 'blobs', 'sha256');
  const kept = new Set(readdirSync(blobsDir));
  const litter = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytes(1024);
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobsDir, hex), bytes);
    litter.add(hex);
  }

  const holder = spawn(process.execPath, [join(ROOT, 'test', 'lock-holder.ts'), join(home, 'kiln.db'), '50', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => holder.kill());
  await new Promise<void>((done) => createInterface({ input: holder.stdout }).once('line', () => done()));
  const results = await Promise.all([
    kiln(['store', 'gc', '--json']).then((r) => ({ ...r, what: 'gc' })),
    kiln(['image', 'import', a, 'a-1', '--label', 'walt.node.models=m']).then((r) => ({ ...r, what: 'import a' })),
    kiln(['image', 'import', b, 'b-1', '--label', 'walt.node.models=m']).then((r) => ({ ...r, what: 'import b' })),
    kiln(['image', 'remove', 'keep']).then((r) => ({ ...r, what: 'remove keep' })),
  ]);
  holder.kill();
  for (const r of results) assert.equal(r.code, 0, `${r.what}: ${r.stderr}`);
  assert.ok(json<{ removedBlobs: number }>(results[0]!).removedBlobs >= 1000);

  const left = readdirSync(blobsDir);
  assert.deepEqual(left.filter((hex) => litter.has(hex)), [], 'every unreferenced blob is gone');
  const verify = await kiln(['store', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.stdout);
  assert.deepEqual(json<Array<{ name: string }>>(await kiln(['image', 'show', '--json'])).map((i) => i.name).sort(), ['a-1', 'b-1']);
  assert.ok([...kept].some((hex) => left.includes(hex)), 'the layer shared with the removed image stays for a-1');
  assert.deepEqual(readdirSync(join(home, 'tmp')).filter((n) => n.startsWith('trash-')), [], 'gc leaves no trash folder');
});
