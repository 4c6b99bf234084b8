import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError } from '../../core/index.ts';
import { parseDockerManifest } from './docker-archive.ts';
import { entryName } from './resolve.ts';

test('manifest.json from outside: entries that are not objects are BAD_ARCHIVE, tags that are not strings are ignored', () => {
  for (const text of ['[null]', '[5]', '[[]]', '[{"Config":"c.json","Layers":[1]}]', '{}', '[]', 'not json']) {
    assert.throws(() => parseDockerManifest(text, 'a.tar'), (err: unknown) => isKilnError(err, 'BAD_ARCHIVE'), text);
  }
  const [item] = parseDockerManifest('[{"Config":"c.json","RepoTags":[5,null,"x/y:1"],"Layers":["l.tar"]}]', 'a.tar');
  assert.deepEqual(item?.RepoTags, ['x/y:1']);
  assert.deepEqual(parseDockerManifest('[{"Config":"c.json","RepoTags":"x","Layers":[]}]', 'a.tar')[0]?.RepoTags, []);
});

test('an index entry whose name annotation is not a string has no name', () => {
  const desc = (name: unknown) => ({ mediaType: 'm', digest: `sha256:${'a'.repeat(64)}` as const, size: 1, annotations: { 'org.opencontainers.image.ref.name': name as string } });
  assert.equal(entryName(desc('x:1')), 'x:1');
  assert.equal(entryName(desc(5)), undefined);
  assert.equal(entryName(desc({})), undefined);
});
