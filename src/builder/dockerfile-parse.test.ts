import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../core/index.ts';
import { expandVars, parseDockerfile, parsePairs, splitWords } from './dockerfile-parse.ts';

/** Asserts that `fn` throws a KilnError whose message matches `message` and that carries a hint. */
function throwsAt(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KilnError, String(err));
    assert.match(err.message, message);
    assert.ok(err.hint && err.hint.length > 0, 'an error has a hint');
    return true;
  });
}

test('splitWords: whitespace separates, quotes group, the escape character escapes', () => {
  const cases: Array<[string, string, string[]]> = [
    ['a b\tc', '\\', ['a', 'b', 'c']],
    ['  a   b  ', '\\', ['a', 'b']],
    ['a "b c" d', '\\', ['a', 'b c', 'd']],
    ["'x y' z", '\\', ['x y', 'z']],
    ['pre"mid dle"post', '\\', ['premid dlepost']],
    ['a\\ b c', '\\', ['a b', 'c']],
    ['"say \\"hi\\""', '\\', ['say "hi"']],
    // Single quotes take the escape character literally.
    ["'a\\b'", '\\', ['a\\b']],
    ['"" x', '\\', ['', 'x']],
    ['a` b c', '`', ['a b', 'c']],
    // With the backtick as escape, a backslash is an ordinary character (Windows paths).
    ['C:\\dir d', '`', ['C:\\dir', 'd']],
    ['', '\\', []],
  ];
  for (const [text, escape, words] of cases) assert.deepEqual(splitWords(text, escape), words, text);
});

test('expandVars: $V, ${V}, ${V:-default}, ${V:+alt}, unset is empty, the escape keeps $ literal', () => {
  const vars = new Map([['A', 'one'], ['EMPTY', ''], ['P', '/opt']]);
  const cases: Array<[string, string, string]> = [
    ['$A ${A}', '\\', 'one one'],
    ['${A}x $Ax', '\\', 'onex '],
    ['${B:-dflt} ${A:-dflt} ${EMPTY:-dflt}', '\\', 'dflt one dflt'],
    ['${B:+alt}|${A:+alt}|${EMPTY:+alt}', '\\', '|alt|'],
    ['$B${B}', '\\', ''],
    ['$P/bin:$PATH', '\\', '/opt/bin:'],
    // The escape before $ is kept for splitWords to remove (backslash) or removed (other escapes).
    ['\\$A', '\\', '\\$A'],
    ['`$A', '`', '$A'],
    ['cost: $ 5, $1, ${', '\\', 'cost: $ 5, $1, ${'],
  ];
  for (const [text, escape, out] of cases) assert.equal(expandVars(text, vars, escape), out, text);
  assert.deepEqual(splitWords(expandVars('\\$A $A', vars, '\\'), '\\'), ['$A', 'one']);
});

test('parsePairs: key=value pairs, quoted values, the legacy "key value" form', () => {
  const vars = new Map([['V', 'x']]);
  assert.deepEqual(parsePairs('A=1 B="two words" C=$V D', '\\', vars, false), [['A', '1'], ['B', 'two words'], ['C', 'x'], ['D', undefined]]);
  assert.deepEqual(parsePairs('A=\\"q\\" E=', '\\', vars, true), [['A', '"q"'], ['E', '']]);
  assert.deepEqual(parsePairs('NAME some value $V', '\\', vars, true), [['NAME', 'some value x']]);
  assert.deepEqual(parsePairs('ONLY', '\\', vars, true), [['ONLY', undefined]]);
});

test('parseDockerfile: keywords in any case, flags, the exec form, positions', () => {
  const parsed = parseDockerfile('from base AS b\n\n  run echo hi\nCOPY --from=b --chown=1:2 /a /b\nCMD ["sh", "-c", "x"]\nCMD [not json\n', 'Dockerfile');
  assert.equal(parsed.escape, '\\');
  assert.deepEqual(parsed.instructions.map((i) => [i.keyword, i.args, i.line, i.col]), [
    ['FROM', 'base AS b', 1, 1],
    ['RUN', 'echo hi', 3, 3],
    ['COPY', '/a /b', 4, 1],
    ['CMD', '["sh", "-c", "x"]', 5, 1],
    ['CMD', '[not json', 6, 1],
  ]);
  assert.deepEqual(parsed.instructions[2]?.flags, { from: 'b', chown: '1:2' });
  assert.deepEqual(parsed.instructions[3]?.json, ['sh', '-c', 'x']);
  assert.equal(parsed.instructions[4]?.json, undefined);
});

test('parseDockerfile: continuations join lines, skipping comment and empty lines inside', () => {
  const parsed = parseDockerfile('FROM x\nRUN a \\\n  && b \\\n# a comment\n\n  && c\nENV A=1 \\\n    B=2\n', 'Dockerfile');
  assert.deepEqual(parsed.instructions.map((i) => [i.keyword, i.args.replace(/\s+/g, ' '), i.line]), [
    ['FROM', 'x', 1],
    ['RUN', 'a && b && c', 2],
    ['ENV', 'A=1 B=2', 7],
  ]);
  // A continuation on the last line ends the file.
  assert.equal(parseDockerfile('FROM x\nRUN a \\', 'Dockerfile').instructions[1]?.args.trim(), 'a');
  // CRLF line ends.
  assert.equal(parseDockerfile('FROM x\r\nRUN a \\\r\n b\r\n', 'Dockerfile').instructions[1]?.args.replace(/\s+/g, ' '), 'a b');
});

test('parseDockerfile: the escape directive changes the continuation and escape character; only at the top', () => {
  const parsed = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN dir C:\\ `\n  && echo done\n', 'Dockerfile');
  assert.equal(parsed.escape, '`');
  assert.equal(parsed.instructions[1]?.args.replace(/\s+/g, ' '), 'dir C:\\ && echo done');
  assert.equal(parsed.instructions[0]?.line, 3);
  // After another comment, "# escape=" is an ordinary comment.
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM x\n', 'Dockerfile').escape, '\\');
  assert.equal(parseDockerfile('FROM x\n# escape=`\n', 'Dockerfile').escape, '\\');
});

test('parseDockerfile: each unsupported case is an error at its file:line:col', () => {
  const cases: Array<[string, RegExp]> = [
    ['FROM x\n  HEALTHCHECK CMD true\n', /^ctx\/Dockerfile:2:3: unsupported instruction HEALTHCHECK/],
    ['FROM x\nONBUILD RUN echo\n', /^ctx\/Dockerfile:2:1: unsupported instruction ONBUILD/],
    ['FROM x\nRUN true\nSTOPSIGNAL 9\n', /^ctx\/Dockerfile:3:1: unsupported instruction STOPSIGNAL/],
    ['FROM x\nMAINTAINER me\n', /^ctx\/Dockerfile:2:1: unsupported instruction MAINTAINER/],
    ['FROM x\n\nRUN <<EOF\necho hi\nEOF\n', /^ctx\/Dockerfile:3:1: RUN: heredocs are not supported/],
    ['FROM x\n COPY <<-"END" /a\n', /^ctx\/Dockerfile:2:2: COPY: heredocs are not supported/],
    ['FROM x\nCOPY --from stage /a /b\n', /^ctx\/Dockerfile:2:1: COPY flag --from needs a value/],
  ];
  for (const [text, message] of cases) throwsAt(() => parseDockerfile(text, 'ctx/Dockerfile'), message);
  // A here-string in a shell command is not a heredoc.
  assert.equal(parseDockerfile('FROM x\nRUN cat <<<"hi"\n', 'Dockerfile').instructions.length, 2);
});
