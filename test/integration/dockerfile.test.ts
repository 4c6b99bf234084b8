import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxUsersRoot, exportedRoot, listTree, privateBuildah } from '../dockerfile-support.ts';
import { json, kilnFor, scratch, sh, tarDir } from '../helpers.ts';

/** A busybox-static root with a passwd file, imported as alice/base. */
async function setup(t: { after: (fn: () => void) => void }): Promise<{ dir: string; kiln: ReturnType<typeof kilnFor>; home: string }> {
  const dir = scratch(t, 'kiln-dockerfile');
  const base = busyboxUsersRoot(dir, ['sh', 'echo', 'mkdir', 'chmod', 'cat']);
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
  assert.equal((await kiln(['image', 'import', tarDir(base, join(dir, 'base.tar')), 'base'])).code, 0);
  return { dir, kiln, home };
}

const DOCKERFILE = `# escape=\\
FROM base AS first
RUN echo built > /built.txt
FROM base
ARG GREETING=hello
ENV APP_HOME=/app \\
    MODE=test
LABEL walt.image.preferred-name="demo" org.example=yes
WORKDIR $APP_HOME
COPY a.txt sub ./
COPY --chmod=0600 --chown=node:node a.txt /etc/a-private
COPY --from=first /built.txt /from-first.txt
# a comment
RUN echo "$GREETING $MODE" > greeting && mkdir -p /var/x && chmod 0750 /var/x
EXPOSE 80
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting"]
`;

function context(dir: string, dockerfile: string): string {
  const ctx = join(dir, 'ctx');
  mkdirSync(join(ctx, 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'a.txt'), 'hi\n');
  writeFileSync(join(ctx, 'sub', 's.txt'), 's\n');
  writeFileSync(join(ctx, 'secret.log'), 'no\n');
  writeFileSync(join(ctx, '.dockerignore'), '*.log\n');
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

test('a Dockerfile builds as buildah bud builds it (files, modes, owners, contents, config); a changed last RUN re-runs only that step', async (t) => {
  const { dir, kiln, home } = await setup(t);
  const ctx = context(dir, DOCKERFILE);
  const first = await kiln(['image', 'build', 'demo', '--from-dir', ctx, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const steps = json<{ steps: Array<{ cached: boolean; name: string }> }>(first).steps;
  assert.equal(steps.length, 6);
  assert.ok(steps.every((s) => !s.cached));

  // Kiln's root filesystem, unpacked with owners.
  const kroot = await exportedRoot(kiln, dir, 'demo');

  // buildah, on the same base (read from Kiln's OCI layout), in a private vfs storage.
  const buildah = privateBuildah(dir);
  buildah.importFromKiln(home, 'alice/base:latest', 'localhost/kilnbase:latest');
  writeFileSync(join(dir, 'Dockerfile.buildah'), DOCKERFILE.replace(/^FROM base/gm, 'FROM localhost/kilnbase'));
  buildah.bud(ctx, 'localhost/demo', ['-f', join(dir, 'Dockerfile.buildah')]);
  // buildah leaves its run-time mount points in the image; Kiln's sandbox does not.
  const runtime = /^(dev|proc|sys|run|etc\/hostname|etc\/hosts|etc\/resolv\.conf) /;
  const { tree, config: bcfg } = buildah.inspect('localhost/demo', runtime);
  assert.deepEqual(listTree(kroot).filter((l) => !runtime.test(l)), tree);
  // buildah stamps its own version as a label.
  delete (bcfg.Labels as Record<string, string>)['io.buildah.version'];
  const kcfg = json<{ config: { config: Record<string, unknown> } }>(await kiln(['image', 'inspect', 'demo', '--json'])).config.config;
  for (const key of ['Env', 'Entrypoint', 'Cmd', 'Labels', 'WorkingDir', 'ExposedPorts']) assert.deepEqual(kcfg[key], bcfg[key], key);

  writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE.replace('chmod 0750 /var/x', 'chmod 0700 /var/x'));
  const again = await kiln(['image', 'build', 'demo', '--from-dir', ctx, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(json<{ steps: Array<{ cached: boolean }> }>(again).steps.map((s) => s.cached), [true, true, true, true, true, false]);
});

test('an unsupported instruction is an error at its file:line:col; --from-url builds a git repository', async (t) => {
  const { dir, kiln } = await setup(t);
  const ctx = context(dir, 'FROM base\n\n  HEALTHCHECK CMD true\n');
  const bad = await kiln(['image', 'build', 'demo', '--from-dir', ctx]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Dockerfile:3:3: unsupported instruction HEALTHCHECK/);

  writeFileSync(join(ctx, 'Dockerfile'), 'FROM base\nCOPY a.txt /a.txt\n');
  sh('git', ['-C', ctx, 'init', '-q']);
  sh('git', ['-C', ctx, 'add', '-A']);
  sh('git', ['-C', ctx, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'x']);
  sh('git', ['clone', '-q', '--bare', ctx, join(dir, 'repo.git')]);
  const built = await kiln(['image', 'build', 'fromgit', '--from-url', `file://${join(dir, 'repo.git')}`, '--json']);
  assert.equal(built.code, 0, built.stderr);
  assert.equal(json<{ images: string[] }>(built).images[0], 'alice/fromgit:latest');
});
