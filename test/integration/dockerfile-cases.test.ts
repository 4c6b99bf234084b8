import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxUsersRoot, exportedRoot, listTree, privateBuildah } from '../dockerfile-support.ts';
import { json, kilnFor, scratch, sh, tarDir } from '../helpers.ts';

/** A busybox-static root (no setpriv) with a passwd file, imported as alice/base; a build context with globs to match. */
async function setup(t: { after: (fn: () => void) => void }): Promise<{ dir: string; ctx: string; kiln: ReturnType<typeof kilnFor>; home: string }> {
  const dir = scratch(t, 'kiln-dockerfile-cases');
  const base = busyboxUsersRoot(dir, ['sh', 'echo', 'cat', 'false']);
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
  const kroot = await exportedRoot(kiln, dir, 'demo');
  assert.deepEqual(readdirSync(join(kroot, 'srv')).sort(), ['a.conf', 'a.txt', 'b.conf', 'b.txt']);
  assert.equal(readFileSync(join(kroot, 'single.conf'), 'utf8'), 'conf/c.conf\n');
  assert.equal(readFileSync(join(kroot, 'flavor'), 'utf8'), 'special\n');

  const buildah = privateBuildah(dir);
  buildah.importFromKiln(home, 'alice/base:latest', 'localhost/kilnbase:latest');
  buildah.bud(ctx, 'localhost/demo', ['--build-arg', 'BASE=localhost/kilnbase', '--build-arg', 'FLAVOR=special', '--build-arg', 'DEST=/srv']);
  const runtime = /^(dev|proc|sys|run|etc\/hostname|etc\/hosts|etc\/resolv\.conf) /;
  const { tree, config: bcfg } = buildah.inspect('localhost/demo', runtime);
  assert.deepEqual(listTree(kroot).filter((l) => !runtime.test(l)), tree);
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
