import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, type Result } from '../helpers.ts';

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

/**
 * Runs a benchmark in its own process group, which is killed with it when the test is
 * cancelled (its timeout): a stuck benchmark leaves no servers or clients behind.
 */
function runBenchmark(file: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
    };
    signal.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      signal.removeEventListener('abort', kill);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

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
    // Scratch space: each benchmark's own temporary directory under /tmp, removed by its exit
    // trap (podman refuses a run root path longer than 50 characters: no deeper folder).
    const env = {
      ...process.env,
      QUICK: '1',
      // The project's Node.js first, as `npm run` would put it: the scripts call `node`.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    };
    const result = await runBenchmark(join(BENCH, name), env, t.signal);
    assert.equal(result.code, 0, `bench/${name} failed:\n${result.stdout}\n${result.stderr}`);
    for (const line of expected) assert.match(result.stdout, line, `bench/${name} printed no line matching ${line}:\n${result.stdout}`);
  });
}
