import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKilnError, type ScannedMember } from '../../core/index.ts';
import { createRootfsGuard } from './rootfs-guard.ts';

type M = Pick<ScannedMember, 'name' | 'type' | 'linkname'>;
const dir = (name: string): M => ({ name, type: 'directory', linkname: '' });
const file = (name: string): M => ({ name, type: 'file', linkname: '' });
const sym = (name: string, linkname: string): M => ({ name, type: 'symlink', linkname });
const hard = (name: string, linkname: string): M => ({ name, type: 'hardlink', linkname });

/** Runs members through a fresh guard; returns the message of the refusal, or undefined. */
function refusal(members: M[]): string | undefined {
  const guard = createRootfsGuard('rootfs.tar');
  try {
    for (const m of members) guard(m);
    return undefined;
  } catch (err) {
    assert.ok(isKilnError(err, 'UNSAFE_PATH'), String(err));
    assert.ok(err.hint.length > 0);
    return err.message;
  }
}

test('rootfs members written through a symlink of the same tarball are refused', () => {
  const cases: Array<{ what: string; members: M[]; refused: RegExp }> = [
    { what: 'absolute symlink, then a write below it', members: [sym('./etc', '/x'), file('./etc/keep')], refused: /"\.\/etc\/keep" is written through the symlink "etc"/ },
    { what: 'relative ../../.. target', members: [sym('a', '../../..'), dir('a/etc'), file('a/etc/cron')], refused: /through the symlink "a"/ },
    { what: 'chain a -> b, b -> /x', members: [sym('b', '/x'), sym('a', 'b'), file('a/f')], refused: /through the symlink "a"/ },
    { what: 'deep ancestor', members: [dir('usr'), sym('usr/lib', '/tmp'), file('usr/lib/x/y/z')], refused: /through the symlink "usr\/lib"/ },
    { what: 'names normalised (//, ./)', members: [sym('etc/', '/x'), file('.//etc//keep')], refused: /through the symlink "etc"/ },
    { what: 'a hardlink whose target passes through a symlink', members: [sym('etc', '/'), hard('stolen', 'etc/shadow')], refused: /hardlink "stolen" points through the symlink "etc"/ },
    { what: 'a hardlink to a symlink is a symlink too', members: [sym('s', '/x'), hard('h', 's'), file('h/evil')], refused: /through the symlink "h"/ },
    { what: 'the root is a symlink', members: [sym('./', '/x'), file('etc/passwd')], refused: /the root itself is a symlink/ },
    { what: 'a symlink replacing a directory seen clean before', members: [file('a/b/one'), sym('a', '/x'), file('a/b/two')], refused: /"a\/b\/two" is written through the symlink "a"/ },
    { what: 'a symlink named like the clean directory', members: [file('d/x'), sym('d', '/'), file('d/y')], refused: /through the symlink "d"/ },
    { what: 'dot-dot name', members: [file('../../etc/cron.d/evil')], refused: /escapes the root/ },
    { what: 'hardlink out of the root', members: [hard('etc/shadow', '../../etc/shadow')], refused: /escapes the root/ },
  ];
  for (const c of cases) assert.match(refusal(c.members) ?? 'accepted', c.refused, c.what);
});

test('ordinary rootfs tarballs pass: symlinks to directories, symlinks replaced by nothing, siblings with a common prefix', () => {
  const ok: M[][] = [
    [dir('usr'), dir('usr/bin'), sym('bin', 'usr/bin'), file('usr/bin/sh'), sym('usr/bin/sh2', 'sh')],
    [sym('lib', 'usr/lib'), file('libexec/x'), file('lib64/y'), hard('usr/bin/a', 'usr/bin/b')],
    [sym('etc/alternatives/editor', '/usr/bin/vi'), file('etc/alternatives.conf')],
    [sym('s', '/x'), hard('h', 's'), file('s2/ok')],
  ];
  for (const members of ok) assert.equal(refusal(members), undefined, JSON.stringify(members));
});
