import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasUserinfo, redactUrls, redactUserinfo } from './url.ts';

test('redactUrls hides the user and password of every URL, and nothing else', () => {
  const cases: Array<[string, string]> = [
    ['cannot reach http://user:secret@127.0.0.1:5000/v2/', 'cannot reach http://***@127.0.0.1:5000/v2/'],
    ['a http://key:secret@h:9000 and https://tok@h/x', 'a http://***@h:9000 and https://***@h/x'],
    ['parent "http://127.0.0.1:5000/alice/x:1"', 'parent "http://127.0.0.1:5000/alice/x:1"'],
    ['s3://bucket/prefix', 's3://bucket/prefix'],
    ['mail alice@example.org', 'mail alice@example.org'],
    ['http://h/path@not-userinfo', 'http://h/path@not-userinfo'],
    ['http://a@b:c@host/x', 'http://***@host/x'],
  ];
  for (const [input, output] of cases) assert.equal(redactUrls(input), output, input);
});

test('hasUserinfo finds credentials before the host, with or without a scheme', () => {
  const cases: Array<[string, boolean]> = [
    ['http://user:secret@host:5000/alice/x', true],
    ['user:secret@host:5000/alice/x', true],
    ['https://tok@host', true],
    ['http://host:5000/alice/x:tag', false],
    ['host:5000/alice/x', false],
    ['http://host/a@b', false],
    ['debian@sha256:0123', false],
    ['http://key:secret@h:9000', true],
  ];
  for (const [input, expected] of cases) assert.equal(hasUserinfo(input), expected, input);
});

test('redactUserinfo hides the credentials of a reference with or without a scheme', () => {
  assert.equal(redactUserinfo('user:secret@host:5000/alice/x:1'), '***@host:5000/alice/x:1');
  assert.equal(redactUserinfo('http://user:secret@host:5000/alice/x'), 'http://***@host:5000/alice/x');
  assert.equal(redactUserinfo('host:5000/alice/x@sha256:00'), 'host:5000/alice/x@sha256:00');
});
