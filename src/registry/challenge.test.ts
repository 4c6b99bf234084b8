import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from './challenge.ts';

test('WWW-Authenticate challenges as registries send them', () => {
  const cases: Array<[string, string, ReturnType<typeof parseChallenges>]> = [
    ['basic', 'Basic realm="basic-realm"', [{ scheme: 'basic', params: { realm: 'basic-realm' } }]],
    [
      'bearer with scope',
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } }],
    ],
    [
      'bearer with error, spaces',
      'Bearer realm="http://127.0.0.1:1/token", service="reg", error="insufficient_scope"',
      [{ scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/token', service: 'reg', error: 'insufficient_scope' } }],
    ],
    ['two challenges', 'Basic realm="a", Bearer realm="b",service=s', [{ scheme: 'basic', params: { realm: 'a' } }, { scheme: 'bearer', params: { realm: 'b', service: 's' } }]],
    ['escaped quote', 'Basic realm="say \\"hi\\""', [{ scheme: 'basic', params: { realm: 'say "hi"' } }]],
    ['empty', '', []],
  ];
  for (const [name, header, expected] of cases) assert.deepEqual(parseChallenges(header), expected, name);
});
