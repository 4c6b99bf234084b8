import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError, ErrorCode } from '../core/index.ts';
import { parseCopyLocation, entryOf } from './image-cp.ts';

test('WalT cp syntax: <image>:<path> is a path in an image, anything else a host path', () => {
  const cases: Array<[string, ReturnType<typeof parseCopyLocation>]> = [
    ['myimage:/etc/hosts', { kind: 'image', image: 'myimage', path: '/etc/hosts' }],
    ['bob/img:v2:/root/', { kind: 'image', image: 'bob/img:v2', path: '/root/' }],
    ['img:etc/x', { kind: 'image', image: 'img', path: '/etc/x' }],
    ['img:/a/../../b', { kind: 'image', image: 'img', path: '/b' }],
    ['./a:b', { kind: 'host', path: './a:b' }],
    ['/tmp/a:b', { kind: 'host', path: '/tmp/a:b' }],
    ['file.txt', { kind: 'host', path: 'file.txt' }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseCopyLocation(text, 'alice'), want, text);
});

test('a bad image name in cp syntax is refused with the naming rule', () => {
  assert.throws(() => parseCopyLocation('Bad_Name:/x', 'alice'), (err) => isKilnError(err, ErrorCode.INVALID_NAME));
});

test('a copy source is split into its directory and entry name; the root is "."', () => {
  assert.deepEqual(entryOf('/etc/hosts'), { dir: '/etc', name: 'hosts' });
  assert.deepEqual(entryOf('rel'), { dir: '.', name: 'rel' });
  assert.deepEqual(entryOf('/'), { dir: '/', name: '.' });
});
