import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { json, kilnFor, scratch, sh, tarDir } from '../helpers.ts';

/** Every entry of a root: path, type+mode, owner, link target or content hash. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = lstatSync(join(root, path));
      const what = info.isSymbolicLink() ? `-> ${readlinkSync(join(root, path))}` : info.isFile() ? createHash('sha256').update(readFileSync(join(root, path))).digest('hex') : '';
      out.push(`${path} ${info.mode.toString(8)} ${info.uid}:${info.gid} ${what}`);
      if (info.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

/** A busybox-static root (no setpriv) with a passwd file, imported as alice/base; a build context with globs to match. */
async function setup(t: { after: (fn: () => void) => void }): Promise<{ dir: string; ctx: string; kiln: ReturnType<typeof kilnFor>; home: string }> {
  const dir = scratch(t, 'kiln-dockerfile-cases');
  const base = join(dir, 'base');
  mkdirSync(join(base, 'bin'), { recursive: true });
  mkdirSync(join(base, 'etc'));
  copyFileSync('/bin/busybox', join(base, 'bin', 'busybox'));
  for (const applet of ['sh', 'echo', 'cat', 'false']) symlinkSync('busybox', join(base, 'bin', applet));
  writeFileSync(join(base, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
  writeFileSync(join(base, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  assert.equal((await kiln(['image', 'import', tarDir(base, join(dir, 'base.tar')), 'base'])).code, 0);
  const ctx = join(dir, 'ctx');
  mkdirSync(join(ctx, 'conf'), { recursive: true });
  for (const name of ['a.txt', 'b.txt', 'skip.txt', 'notes.md', 'conf/a.conf', 'conf/b.conf', 'conf/c.conf']) writeFileSync(join(ctx, name), `${name}\n`);
  writeFileSync(join(ctx, '.dockerignore'), 'skip.txt\n');
  return { dir, ctx, kiln, home };
}

const PARITY = `ARG BASE=missing
FROM \${BASE}
ARG FLAVOR=plain
ARG DEST=/opt
SHELL ["/bin/sh", "-e", "-c"]
COPY *.txt conf/[ab].conf \${DEST}/
COPY conf/c.* /single.conf
RUN echo "$FLAVOR" > /flavor
CMD echo "$FLAVOR"
`;

test('glob sources, --build-arg (in FROM and in the stage) and SHELL build as buildah bud builds them', async (t) => {
  const { dir, ctx, kiln, home } = await setup(t);
  writeFileSync(join(ctx, 'Dockerfile'), PARITY);
  const built = await kiln(['image', 'build', 'demo', '--from-dir', ctx, '--build-arg', 'BASE=base', '--build-arg', 'FLAVOR=special', '--build-arg', 'DEST=/srv', '--json']);
  assert.equal(built.code, 0, built.stderr);
  const kroot = join(dir, 'kiln-root');
  mkdirSync(kroot);
  assert.equal((await kiln(['image', 'export', 'demo', join(dir, 'kiln.tar'), '--format', 'rootfs'])).code, 0);
  sh('tar', ['-xpf', join(dir, 'kiln.tar'), '--numeric-owner', '-C', kroot]);
  assert.deepEqual(readdirSync(join(kroot, 'srv')).sort(), ['a.conf', 'a.txt', 'b.conf', 'b.txt']);
  assert.equal(readFileSync(join(kroot, 'single.conf'), 'utf8'), 'conf/c.conf\n');
  assert.equal(readFileSync(join(kroot, 'flavor'), 'utf8'), 'special\n');

  const B = ['--root', join(dir, 'br', 'root'), '--runroot', join(dir, 'br', 'run'), '--storage-driver', 'vfs'];
  sh('skopeo', ['copy', '-q', `oci:${join(home, 'store')}:alice/base:latest`, `containers-storage:[vfs@${join(dir, 'br', 'root')}+${join(dir, 'br', 'run')}]localhost/kilnbase:latest`]);
  sh('buildah', [...B, 'bud', '-q', '--pull=never', '--isolation', 'chroot', '--layers', '--build-arg', 'BASE=localhost/kilnbase', '--build-arg', 'FLAVOR=special', '--build-arg', 'DEST=/srv', '-t', 'localhost/demo', ctx]);
  const ctr = sh('buildah', [...B, 'from', '--pull=never', 'localhost/demo']).trim();
  const mnt = sh('buildah', [...B, 'mount', ctr]).trim();
  const runtime = /^(dev|proc|sys|run|etc\/hostname|etc\/hosts|etc\/resolv\.conf) /;
  assert.deepEqual(listTree(kroot).filter((l) => !runtime.test(l)), listTree(mnt).filter((l) => !runtime.test(l)));
  const bcfg = (JSON.parse(sh('buildah', [...B, 'inspect', '--type', 'image', 'localhost/demo'])) as { OCIv1: { config: Record<string, unknown> } }).OCIv1.config;
  sh('buildah', [...B, 'rm', ctr]);
  const kcfg = json<{ config: { config: Record<string, unknown> } }>(await kiln(['image', 'inspect', 'demo', '--json'])).config.config;
  // Build args are not part of the image's environment.
  for (const key of ['Env', 'Entrypoint', 'WorkingDir']) assert.deepEqual(kcfg[key], bcfg[key], key);
  // The shell form of CMD goes through SHELL, as Docker (BuildKit) does; buildah writes /bin/sh -c there.
  assert.deepEqual(kcfg.Cmd, ['/bin/sh', '-e', '-c', 'echo "$FLAVOR"']);
  assert.deepEqual(bcfg.Cmd, ['/bin/sh', '-c', 'echo "$FLAVOR"']);
});

test('refusals and build failures name the Dockerfile position and end in a hint', async (t) => {
  const { ctx, kiln } = await setup(t);
  sh('tar', ['-czf', join(ctx, 'bundle.tar.gz'), '-C', ctx, 'a.txt']);
  const cases: Array<[string, RegExp, RegExp]> = [
    ['FROM base\nUSER node\nRUN echo hi\n', /Dockerfile:3:1: USER node: running a RUN step as another user than root needs setpriv/, /install util-linux/],
    ['FROM base\n\nADD https://example.org/app.tgz /opt/\n', /Dockerfile:3:1: ADD https:\/\/example\.org\/app\.tgz: Kiln does not download sources in ADD/, /fetch it in a RUN step/],
    ['FROM base\nADD *.gz /opt/\n', /Dockerfile:2:1: bundle\.tar\.gz is an archive, which ADD would unpack/, /COPY the archive and unpack it in a RUN step/],
    ['FROM base\nSHELL ["/bin/sh", "-e", "-c"]\nRUN false; echo reached > /reached\n', /Dockerfile:3:1: RUN false; echo reached > \/reached failed with exit status 1/, /steps before it are cached/],
    ['FROM base\nCOPY *.none /opt/\n', /Dockerfile:2:1: source \*\.none: no file matches/, /build context/],
    ['FROM base\nCOPY skip.txt /opt/\n', /Dockerfile:2:1: source skip\.txt: excluded by \.dockerignore/, /build context/],
  ];
  for (const [dockerfile, message, hint] of cases) {
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    const result = await kiln(['image', 'build', 'demo', '--from-dir', ctx]);
    assert.equal(result.code, 1, dockerfile);
    assert.match(result.stderr, message, dockerfile);
    assert.match(result.stderr, new RegExp(`hint: .*${hint.source}`), dockerfile);
  }
  // Without SHELL's -e, the same RUN goes on after `false` and succeeds.
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM base\nRUN false; echo reached > /reached\n');
  const ok = await kiln(['image', 'build', 'demo', '--from-dir', ctx]);
  assert.equal(ok.code, 0, ok.stderr);
});
