import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KILN, json, kilnFor, makeRootfsDir, runProgram, scratch, tarDir, type Result } from '../helpers.ts';
import { writeManyEntriesTar } from '../many-entries.ts';

const ENTRIES = 1_500_000;
const MAX_RSS_KIB = 300 * 1024;

/** Runs kiln under GNU time; returns its result and its peak resident set (KiB) as the kernel measured it. */
async function kilnPeak(home: string, args: readonly string[]): Promise<Result & { peakKiB: number }> {
  const env = { ...process.env, KILN_HOME: home, KILN_USER: 'alice', KILN_CONFIG: '' };
  const result = await runProgram('/usr/bin/time', ['-f', 'peak-rss-kib %M', KILN, ...args], env);
  const match = /peak-rss-kib (\d+)\s*$/u.exec(result.stderr);
  assert.ok(match, `no peak RSS in: ${result.stderr}`);
  return { ...result, peakKiB: Number(match[1]) };
}

test(`a rootfs of ${ENTRIES} entries imports, and is checked, in bounded memory`, async (t) => {
  const dir = scratch(t);
  const rootfs = join(dir, 'many.tar.gz');
  await writeManyEntriesTar(rootfs, ENTRIES);
  const home = join(dir, 'home');
  const imported = await kilnPeak(home, ['image', 'import', rootfs, 'many', '--label', 'walt.node.models=rpi-3-b']);
  assert.equal(imported.code, 0, imported.stderr);
  // The import prints the one-line bootability verdict, which walks the image's file tree.
  assert.match(imported.stdout, /check: NOT bootable/u);
  assert.ok(imported.peakKiB < MAX_RSS_KIB, `import peak ${imported.peakKiB} KiB for ${ENTRIES} entries`);
  const cache = join(home, 'cache', 'tree');
  const index = readdirSync(cache)[0] ?? '';
  assert.ok(index.endsWith('.index.db'), `layer index: ${index}`);
  const perEntry = statSync(join(cache, index)).size / ENTRIES;
  assert.ok(perEntry < 64, `the layer index takes ${perEntry.toFixed(1)} bytes per entry`);

  const checked = await kilnPeak(home, ['image', 'check', 'many', '--json']);
  assert.equal(checked.code, 1, checked.stderr);
  const report = JSON.parse(checked.stdout) as { ok: boolean; findings: Array<{ id: string; status: string }> };
  assert.equal(report.ok, false);
  assert.ok(checked.peakKiB < MAX_RSS_KIB, `check peak ${checked.peakKiB} KiB`);
});

test('entry count, layer size and member size limits are errors that name their setting', async (t) => {
  const dir = scratch(t);
  const many = join(dir, 'many.tar.gz');
  await writeManyEntriesTar(many, 100);
  const small = tarDir(makeRootfsDir(dir), join(dir, 'small.tar'));
  const kiln = kilnFor(join(dir, 'home'));
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    [many, { KILN_MAX_LAYER_ENTRIES: '50' }, 'max_layer_entries', /more than 50 entries/u],
    [many, { KILN_MAX_LAYER_SIZE: '16K' }, 'max_layer_size', /more than 16384 bytes of uncompressed tar/u],
    [small, { KILN_MAX_FILE_SIZE: '4' }, 'max_file_size', /more than 4 bytes in one member/u],
  ];
  for (const [file, env, setting, message] of cases) {
    const r = await kiln(['image', 'import', file, 'limited', '--label', 'walt.node.models=rpi-3-b'], env);
    assert.equal(r.code, 1, `${setting}: ${r.stderr}`);
    assert.match(r.stderr, /error \[LIMIT_EXCEEDED\]/u, setting);
    assert.match(r.stderr, message, setting);
    assert.match(r.stderr, new RegExp(`hint: raise ${setting} in kiln.yaml or ${Object.keys(env)[0]}`, 'u'), setting);
  }
  assert.deepEqual(json<unknown[]>(await kiln(['image', 'show', '--json'])), [], 'nothing was imported');
  // The same archives pass under the default limits.
  assert.equal((await kiln(['image', 'import', many, 'fine', '--label', 'walt.node.models=rpi-3-b'])).code, 0);
  const bad = await kiln(['image', 'show'], { KILN_MAX_LAYER_SIZE: 'a lot' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error \[CONFIG\]: max_layer_size \(KILN_MAX_LAYER_SIZE\)/u);
});
