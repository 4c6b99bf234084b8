import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copySourceProblem, isWithin, listHostFiles } from './host-paths.ts';
import { checkSpecFiles } from './spec-load.ts';
import { parseSpec } from './spec.ts';

test('isWithin: a path is within its root and below it, not beside it', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/specs/files/a', '/specs', true],
    ['/specs', '/specs', true],
    ['/specs-other/a', '/specs', false],
    ['/spec', '/specs', false],
    ['/etc/shadow', '/', true],
    ['/etc/shadow', '/specs', false],
  ];
  for (const [path, root, within] of cases) assert.equal(isWithin(path, root), within, `${path} in ${root}`);
});

test('copySourceProblem: sources inside the spec directory or an allowed root only', () => {
  const cases: Array<[string, string, string[], RegExp | undefined]> = [
    // src as written, its real path, allowed roots, problem
    ['files/a', '/specs/files/a', [], undefined],
    ['/etc/shadow', '/etc/shadow', [], /^"\/etc\/shadow" is outside the spec's directory \/specs: /],
    ['../../../../etc/shadow', '/etc/shadow', [], /^"\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow" is outside the spec's directory \/specs: /],
    ['files/link', '/etc/shadow', [], /\(it resolves to \/etc\/shadow\)/],
    ['/etc/shadow', '/etc/shadow', ['/etc'], undefined],
    ['/etc/shadow', '/etc/shadow', ['/srv', '/etc/ssh'], /--allow-host-path <dir> or "allow_host_paths:" in kiln\.yaml \(OpenCHAMI specs/],
    ['/srv/files/x', '/srv/files/x', ['/srv/files'], undefined],
  ];
  for (const [src, real, allowed, problem] of cases) {
    const got = copySourceProblem(src, real, '/specs', allowed);
    if (problem === undefined) assert.equal(got, undefined, src);
    else assert.match(got ?? '', problem, src);
  }
});

test('checkSpecFiles follows symlinks of the spec directory before deciding, and lists what a directory copies', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'kiln-host-paths-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const outside = join(dir, 'outside');
  mkdirSync(join(dir, 'spec', 'files', 'conf'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'host\n');
  writeFileSync(join(dir, 'spec', 'files', 'conf', 'a.conf'), 'a\n');
  symlinkSync(join(outside, 'secret'), join(dir, 'spec', 'files', 'conf', 'secret-link'));
  symlinkSync(join(outside, 'secret'), join(dir, 'spec', 'files', 'secret'));
  symlinkSync('conf', join(dir, 'spec', 'files', 'conf-link'));
  const file = join(dir, 'spec', 'image.yaml');
  const text = `options:\n  name: x\n  parent: base\ncopyfiles:\n  - src: files/secret\n    dst: /a\n  - src: ${join(outside, 'secret')}\n    dst: /b\n  - src: files/conf-link\n    dst: /c/\n  - src: ../outside/secret\n    dst: /d\n`;
  const { spec } = parseSpec(text, file);
  assert.ok(spec);
  const hosts = new Map<string, string>();
  const problems = await checkSpecFiles(spec, {}, hosts);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0] ?? '', new RegExp(`image\\.yaml:5:10: copyfiles\\[0\\]\\.src "files/secret" is outside the spec's directory .*\\(it resolves to ${outside}/secret\\)`));
  assert.match(problems[1] ?? '', /image\.yaml:7:10: copyfiles\[1\]\.src /);
  assert.match(problems[2] ?? '', /image\.yaml:11:10: copyfiles\[3\]\.src "\.\.\/outside\/secret"/);
  assert.deepEqual([...hosts], [['files/conf-link', join(dir, 'spec', 'files', 'conf')]], 'a link inside the spec directory is fine');

  const allowed = new Map<string, string>();
  assert.deepEqual(await checkSpecFiles(spec, { allowHostPaths: [outside] }, allowed), []);
  assert.equal(allowed.get('files/secret'), join(outside, 'secret'));

  assert.deepEqual(await listHostFiles(join(dir, 'spec', 'files', 'conf')), [
    `${join(dir, 'spec', 'files', 'conf')}/`,
    join(dir, 'spec', 'files', 'conf', 'a.conf'),
    `${join(dir, 'spec', 'files', 'conf', 'secret-link')} -> ${join(outside, 'secret')} (a symlink, copied as one)`,
  ]);
});
