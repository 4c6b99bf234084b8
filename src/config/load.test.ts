import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKilnError } from '../core/index.ts';
import { loadConfig, networkIdleTimeoutMs, parseConfigFile } from './index.ts';

test('kiln.yaml: known keys, errors at file:line:col', () => {
  assert.deepEqual(parseConfigFile('home: /srv/kiln\nuser: alice\n', 'k.yaml'), { home: '/srv/kiln', user: 'alice' });
  assert.deepEqual(parseConfigFile('', 'k.yaml'), {});
  const cases: Array<[string, RegExp]> = [
    ['home: /x\nusr: bob\n', /^k\.yaml:2:1: unknown setting "usr"/],
    ['home: [a, b]\n', /^k\.yaml:1:1: "home" must be a string/],
    ["home: \"unterminated\n", /^k\.yaml:\d+:\d+: Missing closing/],
    ['- a\n- b\n', /^k\.yaml:1:1: expected a mapping/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseConfigFile(text, 'k.yaml'), (e) => isKilnError(e, 'CONFIG') && message.test(e.message), text);
  }
});

test('environment overrides the file, the file overrides defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-config-'));
  try {
    const file = join(dir, 'kiln.yaml');
    writeFileSync(file, 'user: from-file\nhome: /from/file\nmax_layer_entries: 5000\nnetwork_idle_timeout: 5\n');
    const config = loadConfig({ KILN_CONFIG: file, KILN_HOME: '/from/env' });
    const { home, user, max_layer_entries: entries, max_file_size: fileSize, network_idle_timeout: idle } = config.values;
    assert.deepEqual({ home, user, entries, fileSize, idle }, { home: '/from/env', user: 'from-file', entries: '5000', fileSize: '16G', idle: '5' });
    const s = config.sources;
    assert.deepEqual([s.home, s.user, s.max_layer_entries, s.max_file_size, s.network_idle_timeout], ['env', 'file', 'file', 'default', 'file']);
    assert.equal(loadConfig({ KILN_CONFIG: file, KILN_NETWORK_IDLE_TIMEOUT: '2.5' }).values.network_idle_timeout, '2.5');
    assert.equal(config.file, file);
    assert.throws(() => loadConfig({ KILN_CONFIG: join(dir, 'missing.yaml') }), (e) => isKilnError(e, 'CONFIG'));
    const fallback = loadConfig({ KILN_HOME: join(dir, 'elsewhere') });
    assert.equal(fallback.file, undefined);
    assert.equal(fallback.sources.user, 'default');
    assert.equal(fallback.values.network_idle_timeout, '60');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kiln.yaml: allow_host_paths is a list of absolute directories', () => {
  assert.deepEqual(parseConfigFile('allow_host_paths: [/srv/files, /etc/openchami]\n', 'k.yaml'), { allow_host_paths: ['/srv/files', '/etc/openchami'] });
  assert.deepEqual(parseConfigFile('allow_host_paths:\n', 'k.yaml'), { allow_host_paths: [] });
  const cases: Array<[string, RegExp]> = [
    ['allow_host_paths: /srv\n', /^k\.yaml:1:19: allow_host_paths must be a list/],
    ['allow_host_paths:\n  - /srv\n  - files\n', /^k\.yaml:3:5: allow_host_paths entry "files" must be an absolute path/],
    ['allow_host_paths: [[/a]]\n', /^k\.yaml:1:20: each allow_host_paths entry must be a string/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseConfigFile(text, 'k.yaml'), (e) => isKilnError(e, 'CONFIG') && message.test(e.message) && /allow_host_paths is a list/.test(e.hint ?? ''), text);
  }
});

test('network_idle_timeout is a positive number of seconds', () => {
  assert.equal(networkIdleTimeoutMs('60'), 60_000);
  assert.equal(networkIdleTimeoutMs('2.5'), 2_500);
  for (const bad of ['0', '-1', 'soon', '']) assert.throws(() => networkIdleTimeoutMs(bad), (e) => isKilnError(e, 'CONFIG') && /network_idle_timeout/.test(e.hint), bad);
});
