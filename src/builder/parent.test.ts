import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../core/index.ts';
import { remoteParent } from './parent.ts';
import { resolvePublishRegistry } from './publish.ts';

const refusedWithoutSecret = (err: unknown): true => {
  assert.ok(isKilnError(err, 'AUTH'), String(err));
  assert.doesNotMatch(`${err.message} ${err.hint}`, /secret/);
  assert.match(err.message, /\*\*\*@127\.0\.0\.1:5000/);
  assert.match(err.hint, /kiln login/);
  return true;
};

test('a parent with credentials in its URL is refused, and the password is never echoed', () => {
  for (const parent of ['http://user:secret@127.0.0.1:5000/alice/base:1', 'user:secret@127.0.0.1:5000/alice/base', 'https://secret@127.0.0.1:5000/alice/base']) {
    assert.throws(() => remoteParent(parent, [], [], 'bob'), refusedWithoutSecret, parent);
  }
});

test('publish_registry with credentials in it is refused the same way', () => {
  assert.throws(() => resolvePublishRegistry('http://user:secret@127.0.0.1:5000/lab', [], []), refusedWithoutSecret);
});

test('registry references without credentials still resolve', () => {
  const r = remoteParent('http://127.0.0.1:5000/alice/base:1', [], [], 'bob');
  assert.ok(r && !('local' in r));
  assert.deepEqual(r.ref, { user: 'bob', name: 'base', tag: '1' });
});
