import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
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

/** A busybox-static root with a passwd file, imported as alice/base. */
function setup(t: { after: (fn: () => void) => void }): { dir: string; kiln: ReturnType<typeof kilnFor>; home: string } {
  const dir = scratch(t, 'kiln-dockerfile');
  const base = join(dir, 'base');
  mkdirSync(join(base, 'bin'), { recursive: true });
  mkdirSync(join(base, 'etc'));
  copyFileSync('/bin/busybox', join(base, 'bin', 'busybox'));
  for (const applet of ['sh', 'echo', 'mkdir', 'chmod', 'cat']) symlinkSync('busybox', join(base, 'bin', applet));
  writeFileSync(join(base, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
  writeFileSync(join(base, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  const home = join(dir, 'home');
  const kiln = kilnFor(home);
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
  const { dir, kiln, home } = setup(t);
  assert.equal((await kiln(['image', 'import', tarDir(join(dir, 'base'), join(dir, 'base.tar')), 'base'])).code, 0);
  const ctx = context(dir, DOCKERFILE);
  const first = await kiln(['image', 'build', 'demo', '--from-dir', ctx, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const steps = json<{ steps: Array<{ cached: boolean; name: string }> }>(first).steps;
  assert.equal(steps.length, 6);
  assert.ok(steps.every((s) => !s.cached));

  // Kiln's root filesystem, unpacked with owners.
  const kroot = join(dir, 'kiln-root');
  mkdirSync(kroot);
  assert.equal((await kiln(['image', 'export', 'demo', join(dir, 'kiln.tar'), '--format', 'rootfs'])).code, 0);
  sh('tar', ['-xpf', join(dir, 'kiln.tar'), '--numeric-owner', '-C', kroot]);

  // buildah, on the same base (read from Kiln's OCI layout), in a private vfs storage.
  const B = ['--root', join(dir, 'br', 'root'), '--runroot', join(dir, 'br', 'run'), '--storage-driver', 'vfs'];
  sh('skopeo', ['copy', '-q', `oci:${join(home, 'store')}:alice/base:latest`, `containers-storage:[vfs@${join(dir, 'br', 'root')}+${join(dir, 'br', 'run')}]localhost/kilnbase:latest`]);
  writeFileSync(join(dir, 'Dockerfile.buildah'), DOCKERFILE.replace(/^FROM base/gm, 'FROM localhost/kilnbase'));
  sh('buildah', [...B, 'bud', '-q', '--pull=never', '--isolation', 'chroot', '--layers', '-f', join(dir, 'Dockerfile.buildah'), '-t', 'localhost/demo', ctx]);
  const ctr = sh('buildah', [...B, 'from', '--pull=never', 'localhost/demo']).trim();
  const mnt = sh('buildah', [...B, 'mount', ctr]).trim();
  // buildah leaves its run-time mount points in the image; Kiln's sandbox does not.
  const runtime = /^(dev|proc|sys|run|etc\/hostname|etc\/hosts|etc\/resolv\.conf) /;
  assert.deepEqual(listTree(kroot).filter((l) => !runtime.test(l)), listTree(mnt).filter((l) => !runtime.test(l)));
  const bcfg = (JSON.parse(sh('buildah', [...B, 'inspect', '--type', 'image', 'localhost/demo'])) as { OCIv1: { config: Record<string, unknown> } }).OCIv1.config;
  sh('buildah', [...B, 'rm', ctr]);
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
  const { dir, kiln } = setup(t);
  assert.equal((await kiln(['image', 'import', tarDir(join(dir, 'base'), join(dir, 'base.tar')), 'base'])).code, 0);
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
