import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostNameServers, mergeAuthorizedKeys, renderHosts, renderIdentityScript, renderResolvConf } from './identity-script.ts';

const NASTY: Array<[string, string]> = [
  ['quotes', `it's "quoted" and 'single'`],
  ['backslashes', 'a\\b\\\\c\\n\\\'\n'],
  ['dollars', '$HOME ${root} $(reboot -f) `reboot -f` $1 $?\n'],
  ['newlines', '\n\nfirst\n\nlast\n\n\n'],
  ['no final newline', 'no newline at the end'],
  ['empty', ''],
  ['percent', '%s %d %% %b \\0'],
  ['unicode', 'café ✓ 日本\ttab\r\n'],
  ['glob', '* ? [a-z] ~ & | ; < > ( ) { } #'],
];

test('the identity script writes every file byte-exact through sh (quotes, backslashes, $, newlines), with its mode', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = NASTY.map(([name, content], i) => ({ path: `/etc/kiln-test/${i}/${name.replaceAll(' ', '-')}`, content, mode: i % 2 === 0 ? 0o600 : 0o644 }));
  const script = renderIdentityScript(files, 'node "pc1" $(x)\nsecond line');
  for (const shell of ['sh', 'busybox']) {
    const root = join(dir, shell);
    const r = spawnSync(shell, shell === 'busybox' ? ['sh', '-s', root] : ['-s', root], { input: script, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const [i, file] of files.entries()) {
      const host = join(root, file.path);
      assert.equal(readFileSync(host, 'utf8'), file.content, `${shell}: ${NASTY[i]?.[0]}`);
      assert.equal(statSync(host).mode & 0o777, file.mode);
    }
  }
});

test('the identity script refuses what sh cannot carry or what would leave the root', () => {
  assert.throws(() => renderIdentityScript([{ path: '/etc/../../x', content: '', mode: 0o644 }], 't'), /not a plain absolute path/u);
  assert.throws(() => renderIdentityScript([{ path: 'etc/x', content: '', mode: 0o644 }], 't'), /not a plain absolute path/u);
  assert.throws(() => renderIdentityScript([{ path: '/etc/x y', content: '', mode: 0o644 }], 't'), /not a plain absolute path/u);
  assert.throws(() => renderIdentityScript([{ path: '/etc/x', content: 'a\0b', mode: 0o644 }], 't'), /NUL/u);
});

test('authorized_keys keeps the image\'s lines and adds the server\'s key once', () => {
  const server = 'ssh-ed25519 AAAAC3Nza kiln-server';
  assert.equal(mergeAuthorizedKeys(undefined, server), `${server}\n`);
  assert.equal(mergeAuthorizedKeys('ssh-rsa AAAB user@lab\n\n# a comment\r\n', `${server}\n`), `ssh-rsa AAAB user@lab\n# a comment\n${server}\n`);
  assert.equal(mergeAuthorizedKeys(`${server}\nssh-rsa AAAB x\n`, server), `ssh-rsa AAAB x\n${server}\n`);
});

test('hosts and resolv.conf of a node', () => {
  assert.match(renderHosts('pc1', '192.168.152.10'), /^192\.168\.152\.10\tpc1$/mu);
  assert.match(renderHosts('pc1', undefined), /^127\.0\.1\.1\tpc1$/mu);
  assert.equal(renderResolvConf(['10.0.0.1', '9.9.9.9']), 'nameserver 10.0.0.1\nnameserver 9.9.9.9\n');
  assert.deepEqual(hostNameServers('# x\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n nameserver ::1\nnameserver fd00::1\n'), ['10.1.1.1', 'fd00::1']);
});
