import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kilnFor, scratch, sh } from '../helpers.ts';

const GIB = 1024 ** 3;

function peakMiB(stderr: string): number {
  const match = /peak memory (\d+) MiB/.exec(stderr);
  assert.ok(match, `no peak memory in: ${stderr}`);
  return Number(match[1]);
}

test('a 1 GiB layer imports and exports in bounded memory', async (t) => {
  const dir = scratch(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'big'), '');
  truncateSync(join(root, 'big'), GIB);
  const rootfs = join(dir, 'big.tar');
  sh('tar', ['-C', root, '-cf', rootfs, '.']);
  const kiln = kilnFor(join(dir, 'home'));
  const imported = await kiln(['image', 'import', rootfs, 'big', '--debug', '--label', 'walt.node.models=m']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.ok(peakMiB(imported.stderr) < 300, `import peak ${peakMiB(imported.stderr)} MiB for a 1 GiB layer`);
  const out = join(dir, 'big.oci.tar');
  const exported = await kiln(['image', 'export', 'big', out, '--format', 'oci-archive', '--debug']);
  assert.equal(exported.code, 0, exported.stderr);
  assert.ok(peakMiB(exported.stderr) < 300, `export peak ${peakMiB(exported.stderr)} MiB`);
  assert.ok(statSync(out).size > GIB);
});
