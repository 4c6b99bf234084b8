import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { listTree, privateBuildah } from '../dockerfile-support.ts';
import { kilnFor, scratch, sh } from '../helpers.ts';

// The Debian base is built once into a KILN_HOME kept between runs (its step cache), so a warm run does not bootstrap Debian again.
const HOME = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache', 'dockerfile-home');
const kiln = kilnFor(HOME, 'docker');

const BASE = `options:
  layer_type: 'base'
  name: 'deb-base'
  publish_tags: '12'
  pkg_manager: 'apt'
  parent: 'scratch'
packages: [hello]
`;

test('USER on a Debian base: RUN as that user (primary and supplementary groups, or the group named, HOME), the same tree as buildah bud', async (t) => {
  mkdirSync(HOME, { recursive: true });
  const dir = scratch(t, 'kiln-dockerfile-debian');
  writeFileSync(join(dir, 'base.yaml'), BASE);
  const base = await kiln(['image', 'build', join(dir, 'base.yaml')]);
  assert.equal(base.code, 0, base.stderr);

  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  // A nonce keeps the user steps out of the cache of earlier runs.
  writeFileSync(join(ctx, 'Dockerfile'), `FROM deb-base:12
RUN groupadd --gid 2000 extra && useradd --create-home --uid 1234 --groups extra app
USER app
RUN echo ${randomBytes(4).toString('hex')} > /dev/null; { id -u; id -g; id -G; echo "$HOME"; } > /home/app/as-name && touch /home/app/mine
USER 1234:2000
RUN { id -u; id -g; id -G; } > /home/app/as-ids
USER root
RUN id -u > /root-id
`);
  const built = await kiln(['image', 'build', 'users', '--from-dir', ctx]);
  assert.equal(built.code, 0, built.stderr);
  const rootfs = join(dir, 'rootfs.tar');
  assert.equal((await kiln(['image', 'export', 'users', rootfs, '--format', 'rootfs'])).code, 0);
  const read = (path: string): string => sh('tar', ['-xOf', rootfs, path]);
  assert.equal(read('./home/app/as-name'), '1234\n1234\n1234 2000\n/home/app\n');
  assert.equal(read('./home/app/as-ids'), '1234\n2000\n2000\n');
  assert.equal(read('./root-id'), '0\n');
  assert.match(sh('tar', ['--numeric-owner', '-tvf', rootfs, './home/app/mine']), /^-\S+ 1234\/1234 /);

  // buildah bud on the same base (read from Kiln's OCI layout) makes the same tree.
  const kroot = join(dir, 'kiln-root');
  mkdirSync(kroot);
  sh('tar', ['-xpf', rootfs, '--numeric-owner', '-C', kroot]);
  const buildah = privateBuildah(dir);
  buildah.importFromKiln(HOME, 'docker/deb-base:12', 'localhost/deb-base:12');
  writeFileSync(join(dir, 'Dockerfile.buildah'), readFileSync(join(ctx, 'Dockerfile'), 'utf8').replace('FROM deb-base:12', 'FROM localhost/deb-base:12'));
  buildah.bud(ctx, 'localhost/users', ['-f', join(dir, 'Dockerfile.buildah')]);
  // buildah leaves its run-time mount points in the image; Kiln's sandbox does not.
  const runtime = /^(dev|proc|sys|run|tmp|etc\/hostname|etc\/hosts|etc\/resolv\.conf)[ /]/;
  assert.deepEqual(listTree(kroot).filter((l) => !runtime.test(l)), buildah.inspect('localhost/users', runtime).tree);
});
