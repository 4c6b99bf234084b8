import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { KILN, json, kilnFor, scratch, sh } from '../helpers.ts';

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

test('an import killed halfway leaves the store valid and can simply be run again', async (t) => {
  const dir = scratch(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'big'), '');
  truncateSync(join(root, 'big'), GIB / 2);
  const rootfs = join(dir, 'half.tar');
  sh('tar', ['-C', root, '-cf', rootfs, '.']);
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  assert.equal((await kiln(['image', 'import', rootfs, 'first', '--label', 'walt.node.models=m'])).code, 0);
  const child = spawn(KILN, ['image', 'import', rootfs, 'second', '--label', 'walt.node.models=m'], {
    env: { ...process.env, KILN_HOME: home, KILN_USER: 'alice' },
    stdio: 'ignore',
  });
  // Kill it once it is streaming into its staging area.
  const tmp = join(home, 'tmp');
  for (let i = 0; i < 200 && !readdirSync(tmp).some((n) => readdirSync(join(tmp, n)).length > 0); i++) await sleep(25);
  child.kill('SIGKILL');
  await once(child, 'close');
  assert.ok(readdirSync(tmp).length > 0, 'the killed import left its staging area');
  const verify = await kiln(['store', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.stdout);
  assert.deepEqual(json<Array<{ name: string }>>(await kiln(['image', 'show', '--json'])).map((i) => i.name), ['first']);
  const again = await kiln(['image', 'import', rootfs, 'second', '--label', 'walt.node.models=m']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await kiln(['store', 'gc'])).code, 0);
  assert.deepEqual(readdirSync(tmp), [], 'gc removed the dead process\'s staging area');
  assert.equal((await kiln(['store', 'verify'])).code, 0);
});
