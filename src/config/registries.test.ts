import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../core/index.ts';
import { loadConfig, parseConfigFile } from './index.ts';

test('kiln.yaml registries: WalT fields, defaults, and field errors at file:line:col', () => {
  const text = [
    'registries:',
    '  - api: docker-hub',
    '  - label: local',
    '    api: docker-registry-v2',
    '    host: registry.lab',
    '    port: 5000',
    '    protocol: http',
    '    auth: none',
    '  - label: art',
    '    api: jfrog-artifactory',
    '    host: jfrog.example.org',
    '    repository: walt-images',
    '',
  ].join('\n');
  assert.deepEqual(parseConfigFile(text, 'k.yaml').registries, [
    { label: 'hub', api: 'docker-hub', host: 'registry-1.docker.io', port: 443, protocol: 'https', auth: 'basic' },
    { label: 'local', api: 'docker-registry-v2', host: 'registry.lab', port: 5000, protocol: 'http', auth: 'none' },
    { label: 'art', api: 'jfrog-artifactory', host: 'jfrog.example.org', port: 443, protocol: 'https', auth: 'basic', repository: 'walt-images' },
  ]);
  assert.deepEqual(parseConfigFile('registries: []\n', 'k.yaml').registries, [], 'an empty list disables Docker Hub');
  const entry = (lines: string): string => `user: alice\nregistries:\n  - label: x\n${lines}`;
  const cases: Array<[string, string, RegExp]> = [
    ['not a list', 'registries: hub\n', /^k\.yaml:1:13: "registries" must be a list/],
    ['unknown field', entry('    api: docker-registry-v2\n    host: h\n    colour: red\n'), /^k\.yaml:6:5: unknown registry field "colour"/],
    ['unknown api', entry('    api: quay\n'), /^k\.yaml:4:10: unknown registry api "quay"/],
    ['missing api', entry('    host: h\n'), /^k\.yaml:3:5: registry has no "api"/],
    ['missing host', entry('    api: docker-registry-v2\n'), /^k\.yaml:3:5: registry "x" has no "host"/],
    ['reserved label', 'registries:\n  - label: walt\n    api: docker-registry-v2\n    host: h\n', /^k\.yaml:2:12: label "walt" is reserved/],
    ['hub with another label', 'registries:\n  - label: dh\n    api: docker-hub\n', /^k\.yaml:2:12: the docker-hub registry's label is "hub"/],
    ['bad protocol', entry('    api: docker-registry-v2\n    host: h\n    protocol: ftp\n'), /^k\.yaml:6:15: unknown protocol "ftp"/],
    ['bad auth', entry('    api: docker-registry-v2\n    host: h\n    auth: token\n'), /^k\.yaml:6:11: unknown auth "token"/],
    ['bad port', entry('    api: docker-registry-v2\n    host: h\n    port: 70000\n'), /^k\.yaml:6:11: invalid port "70000"/],
    ['host with scheme', entry('    api: docker-registry-v2\n    host: https://h\n'), /^k\.yaml:5:11: invalid host "https:\/\/h"/],
    ['artifactory without repository', entry('    api: jfrog-artifactory\n    host: h\n'), /^k\.yaml:3:5: registry "x" has no "repository"/],
    ['repository on a v2 registry', entry('    api: docker-registry-v2\n    host: h\n    repository: r\n'), /^k\.yaml:6:17: "repository" is only for api jfrog-artifactory/],
    ['label twice', 'registries:\n  - label: a\n    api: docker-registry-v2\n    host: h\n  - label: a\n    api: docker-registry-v2\n    host: g\n', /^k\.yaml:5:12: label "a" is used twice/],
    ['field not a string', entry('    api: [docker-hub]\n'), /^k\.yaml:4:10: registry field "api" must be a string/],
  ];
  for (const [name, yaml, message] of cases) {
    assert.throws(() => parseConfigFile(yaml, 'k.yaml'), (e) => isKilnError(e, 'CONFIG') && message.test(e.message), name);
  }
});

test('Docker Hub by default; KILN_HUB_URL and KILN_HUB_SEARCH_URL move it', () => {
  assert.deepEqual(loadConfig({ KILN_HOME: '/nonexistent' }).registries.map((r) => r.label), ['hub']);
  const moved = loadConfig({ KILN_HOME: '/nonexistent', KILN_HUB_URL: 'http://127.0.0.1:5000', KILN_HUB_SEARCH_URL: 'http://127.0.0.1:8080/' }).registries[0];
  assert.deepEqual(moved, { label: 'hub', api: 'docker-hub', host: '127.0.0.1', port: 5000, protocol: 'http', auth: 'basic', searchUrl: 'http://127.0.0.1:8080' });
  assert.throws(() => loadConfig({ KILN_HOME: '/nonexistent', KILN_HUB_URL: 'ftp://x' }), (e) => isKilnError(e, 'CONFIG'));
});
