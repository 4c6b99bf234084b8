import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerignore } from './dockerfile-copy.ts';

test('.dockerignore: globs from the context root, ** across directories, ! exceptions, the last matching rule wins', () => {
  const cases: Array<[string, Array<[string, boolean]>]> = [
    ['*.log', [['a.log', true], ['sub/a.log', false], ['a.txt', false]]],
    ['**/*.log', [['a.log', true], ['sub/a.log', true], ['sub/deep/a.log', true], ['a.txt', false]]],
    // A rule on a directory covers what is below it; a leading or trailing "/" changes nothing.
    ['/build/', [['build', true], ['build/out/x.o', true], ['src/build', false]]],
    ['build\n!build/keep.txt', [['build/x', true], ['build/keep.txt', false]]],
    ['*.md\n!README*.md', [['NOTES.md', true], ['README.md', false], ['README-dev.md', false]]],
    ['!a.txt\n*.txt', [['a.txt', true]]],
    ['# comment\n\n  docs  \n', [['docs/a.md', true], ['# comment', false]]],
    ['sub/**/tmp', [['sub/tmp', true], ['sub/a/b/tmp/file', true], ['tmp', false]]],
    ['f?.txt\n[ab].bin', [['f1.txt', true], ['f10.txt', false], ['a.bin', true], ['c.bin', false]]],
    ['', [['anything', false]]],
  ];
  for (const [rules, paths] of cases) {
    const ignored = dockerignore(rules);
    for (const [path, expected] of paths) assert.equal(ignored(path), expected, `${JSON.stringify(rules)}: ${path}`);
  }
});
