import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');

/** Which domains each domain may import (through their index.ts). app composes the domains; cli (and later server) are edges over app. */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  config: ['core'],
  store: ['core'],
  registry: ['core', 'config', 'store'],
  check: ['core', 'store'],
  builder: ['core', 'config', 'store', 'registry', 'check', 'export'],
  export: ['core', 'config', 'store', 'check'],
  boot: ['core', 'config', 'store', 'check', 'export'],
  boottest: ['core'],
  app: ['core', 'config', 'store', 'registry', 'check', 'builder', 'export', 'boot', 'boottest'],
  // Edges: the core's operations, plus core and config for types, output helpers and the settings table.
  cli: ['core', 'config', 'app'],
  server: ['core', 'config', 'app'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

const domainOf = (file: string): string => relative(SRC, file).split('/')[0] ?? '';

test('each domain has an index.ts door and is in the dependency table', () => {
  for (const entry of readdirSync(SRC, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    assert.ok(existsSync(join(SRC, entry.name, 'index.ts')) || entry.name === 'cli', `src/${entry.name} has an index.ts`);
    assert.ok(entry.name in ALLOWED, `src/${entry.name} is a known domain`);
  }
});

test('domains import each other only through index.ts, and only along allowed arrows', () => {
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = resolve(dirname(file), match[1] as string);
      const from = domainOf(file);
      const to = domainOf(target);
      if (from === to) continue;
      const where = `${relative(ROOT, file)} imports ${match[1]}`;
      // A domain's test fixtures (fakes, fixture builders, shared contracts) have a second, test-only door.
      const door = relative(SRC, target) === `${to}/index.ts` || (file.endsWith('.test.ts') && relative(SRC, target) === `${to}/testing.ts`);
      if (!door) problems.push(`${where}: reach ${to} through src/${to}/index.ts${relative(SRC, target) === `${to}/testing.ts` ? ' (testing.ts is for tests only)' : ''}`);
      if (!(ALLOWED[from] ?? []).includes(to)) problems.push(`${where}: ${from} may not depend on ${to}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('test fixtures stay out of the commands: only tests import a testing.ts, and no index.ts door exports fixtures', () => {
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    if (file.endsWith('.test.ts')) continue;
    const rel = relative(ROOT, file);
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = match[1] as string;
      if (target.endsWith('/testing.ts')) problems.push(`${rel} imports ${target}: fixtures are for tests`);
      if (file.endsWith('/index.ts') && /\/(?:fake-|broken-|test-)[^/]*\.ts$|-contract\.ts$/.test(target)) problems.push(`${rel} exports ${target}: move it to testing.ts`);
    }
  }
  assert.deepEqual(problems, []);
});

/**
 * Start-up: every `kiln` run, `--version` included, loads main.ts and the command tables; a
 * table that imports values (the application core, core, node: modules) makes every command
 * pay for them. Implementations go in the topic's *-run.ts (see src/cli/README.md).
 */
test('the CLI\'s command tables import only types and other tables; main.ts only the tables, command.ts and node: built-ins', () => {
  const problems: string[] = [];
  for (const name of readdirSync(join(SRC, 'cli'))) {
    const table = /-commands\.ts$/.test(name) || name === 'command.ts';
    if (!table && name !== 'main.ts') continue;
    const text = readFileSync(join(SRC, 'cli', name), 'utf8');
    for (const match of text.matchAll(/^import\s+(?!type\b)[^'"]*?from\s*'([^']+)'/gm)) {
      const target = match[1] as string;
      // Tables may share what other tables define (e.g. the boot test's options); main.ts reads package.json and parses argv.
      const allowed = /^\.\/[a-z-]+-commands\.ts$/.test(target) || (name === 'main.ts' && (target.startsWith('node:') || target === './command.ts'));
      if (!allowed) problems.push(`src/cli/${name} imports ${target}: move the code that needs it to a *-run.ts`);
    }
  }
  assert.deepEqual(problems, []);
});

test('source files stay short and no catch-all utils files exist', () => {
  for (const file of sourceFiles(SRC)) {
    assert.ok(!/\/utils?\.ts$/.test(file), `${relative(ROOT, file)}: name the module after what it does`);
    const lines = readFileSync(file, 'utf8').split('\n').length;
    assert.ok(lines <= 400, `${relative(ROOT, file)} has ${lines} lines; split it`);
  }
});

test('every package in package.json is named in the README with its reason', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Dependencies'));
  assert.ok(section.length > 20, 'README has a "## Dependencies" section');
  for (const name of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]) {
    assert.match(section, new RegExp('`' + name.replace(/[/.]/g, '\\$&') + '`[^\\n]*\\S'), `README explains why ${name} is a dependency`);
  }
});

/** Source text without comments (a rough cut: enough for the rules below). */
const codeOf = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/**
 * The store owns the KILN_HOME layout: outside src/store/, code asks the store for a
 * directory of a kind (`store.dirs`) or for a blob by digest, and never builds a path
 * under the home directory. Forbidden elsewhere: reading a `.home` property, joining
 * onto a variable named `home`, reading KILN_HOME from the environment, and reading a blob's file by path
 * (`.blobFile(`, `blobPath(`). The settings (src/config/) define where KILN_HOME is, and
 * the CLI's context reads it from them and the application core (src/app/kiln.ts), the one
 * place that opens the store, passes it on.
 */
test('outside src/store/, no source builds paths under KILN_HOME or reads blob files by path', () => {
  const RULES: ReadonlyArray<[RegExp, string]> = [
    [/\.home\b/, 'reads a .home property'],
    [/\b(?:join|resolve)\(\s*home\b/, 'joins a path onto the home directory'],
    [/\benv(?:\.KILN_HOME|\[\s*['"]KILN_HOME)/, 'reads KILN_HOME from the environment'],
    [/\.blobFile\(|\bblobPath\(/, 'reads a blob file by path'],
  ];
  const EXEMPT: Record<string, string> = {
    'src/cli/context.ts': 'reads the configured home',
    'src/app/kiln.ts': 'opens the store at the configured home',
  };
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(ROOT, file);
    if (rel.startsWith('src/store/') || rel.startsWith('src/config/') || rel.endsWith('.test.ts') || rel in EXEMPT) continue;
    const code = codeOf(readFileSync(file, 'utf8'));
    for (const [pattern, what] of RULES) if (pattern.test(code)) problems.push(`${rel} ${what}: ask the store (store.dirs, openBlob, openBlobRange)`);
  }
  assert.deepEqual(problems, []);
});
