import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, runProgram, scratch } from '../helpers.ts';

/**
 * Every benchmark keeps running: each bench/*.sh script (lib.sh, which is sourced, has no
 * `#!` line) runs once in quick mode (QUICK=1: tiny input, one run, the same code paths),
 * must exit 0 and must print the result lines its header names
 * (`# result-line: <regex>`). Timings are not asserted: quick runs measure nothing.
 * A new benchmark is picked up from the folder; one without a quick mode fails here.
 */
const BENCH = join(ROOT, 'bench');
const scripts = readdirSync(BENCH)
  .filter((name) => name.endsWith('.sh') && readFileSync(join(BENCH, name), 'utf8').startsWith('#!'))
  .sort();

/** The result lines a benchmark's header promises, as regular expressions. */
function resultLines(text: string): RegExp[] {
  return [...text.matchAll(/^# result-line: (.+)$/gm)].map((m) => new RegExp((m[1] as string).trim(), 'm'));
}

test('bench/ holds the benchmarks, start-up among them', () => {
  assert.ok(scripts.includes('startup.sh'), `benchmarks found: ${scripts.join(', ')}`);
});

for (const name of scripts) {
  // A bound, not a timing: a quick run takes seconds; a hung one must not hang the suite.
  test(`bench/${name} runs in quick mode and prints its result lines`, { timeout: 10 * 60_000 }, async (t) => {
    const text = readFileSync(join(BENCH, name), 'utf8');
    assert.match(text, /\bQUICK\b|^\s*(?:if )?quick\b/m, `bench/${name} has no quick mode: make QUICK=1 run it on a tiny input, once`);
    const expected = resultLines(text);
    assert.ok(expected.length > 0, `bench/${name} names no "# result-line: <regex>" in its header`);
    const tmp = scratch(t, 'kiln-bench-quick');
    const env = {
      ...process.env,
      QUICK: '1',
      KILN_BENCH_TMP: tmp,
      TMPDIR: tmp,
      // The project's Node.js first, as `npm run` would put it: the scripts call `node`.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    };
    const result = await runProgram(join(BENCH, name), [], env);
    assert.equal(result.code, 0, `bench/${name} failed:\n${result.stdout}\n${result.stderr}`);
    for (const line of expected) assert.match(result.stdout, line, `bench/${name} printed no line matching ${line}:\n${result.stdout}`);
  });
}
