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
    writeFileSync(file, 'user: from-file\nhome: /from/file\nnetwork_idle_timeout: 5\n');
    const config = loadConfig({ KILN_CONFIG: file, KILN_HOME: '/from/env' });
    assert.deepEqual(config.values, { home: '/from/env', user: 'from-file', network_idle_timeout: '5' });
    assert.deepEqual(config.sources, { home: 'env', user: 'file', network_idle_timeout: 'file' });
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

test('network_idle_timeout is a positive number of seconds', () => {
  assert.equal(networkIdleTimeoutMs('60'), 60_000);
  assert.equal(networkIdleTimeoutMs('2.5'), 2_500);
  for (const bad of ['0', '-1', 'soon', '']) assert.throws(() => networkIdleTimeoutMs(bad), (e) => isKilnError(e, 'CONFIG') && /network_idle_timeout/.test(e.hint), bad);
});
