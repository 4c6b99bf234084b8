import type { Command } from './command.ts';
import { BOOT_TEST_COMMANDS } from './boot-test-commands.ts';

const show: Command = {
  path: ['image', 'show'],
  usage: 'kiln image show [--all] [--names-only] [--json]',
  summary: 'list your node images (--all: other users\' too, with their clone link)',
  options: { all: { type: 'boolean' }, 'names-only': { type: 'boolean' } },
  positionals: [0, 0],
  run: (ctx, args, values) => import('./image-run.ts').then((m) => m.show(ctx, args, values)),
};

const inspect: Command = {
  path: ['image', 'inspect'],
  usage: 'kiln image inspect <image> [--json]',
  summary: 'show an image\'s name, digest, platform, labels and layers',
  options: {},
  positionals: [1, 1],
  run: (ctx, args, values) => import('./image-run.ts').then((m) => m.inspect(ctx, args, values)),
};

const importCmd: Command = {
  path: ['image', 'import'],
  usage: 'kiln image import <path> [<name>] [--format oci|oci-archive|docker-archive|rootfs] [--label k=v]... [--ref <name>] [--platform os/arch[/variant]] [--force]',
  summary: 'bring an image in from an OCI layout or archive, a docker-archive, or a root filesystem tarball',
  options: {
    format: { type: 'string' },
    label: { type: 'string', multiple: true },
    ref: { type: 'string' },
    platform: { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: [1, 2],
  run: (ctx, args, values) => import('./image-run.ts').then((m) => m.importCmd(ctx, args, values)),
};

const exportCmd: Command = {
  path: ['image', 'export'],
  usage: 'kiln image export <image> <dest> --format oci|oci-archive|docker-archive|rootfs|squashfs|erofs|boot [--force] ' +
    '[--rootfs squashfs|erofs] [--compression gzip|xz|zstd|lzo|lz4] [--compression-level 1-9] [--layout both|kiln|openchami] [--kernel-version V] ' +
    '[--base-url URL] [--append "params"] [--s3-endpoint URL] [--create-bucket]   (dest: a path, "-", or for squashfs|erofs|boot a directory or s3://bucket/prefix)',
  summary: 'write an image out as an OCI layout or archive, a docker-archive, its root filesystem as tar, or boot artifacts (SquashFS/EROFS, kernel, initramfs, manifest.json, boot.ipxe) to a directory or S3',
  options: {
    format: { type: 'string' }, force: { type: 'boolean' }, rootfs: { type: 'string' }, compression: { type: 'string' }, 'compression-level': { type: 'string' }, layout: { type: 'string' },
    'kernel-version': { type: 'string' }, 'base-url': { type: 'string' }, append: { type: 'string' }, 's3-endpoint': { type: 'string' }, 'create-bucket': { type: 'boolean' },
  },
  positionals: [2, 2],
  run: (ctx, args, values) => import('./image-run.ts').then((m) => m.exportCmd(ctx, args, values)),
};

function copyCommand(verb: 'duplicate' | 'rename'): Command {
  return {
    path: ['image', verb],
    usage: `kiln image ${verb} <image> <new-name> [--force]`,
    summary: verb === 'duplicate' ? 'copy an image under a new name (no data is copied)' : 'give one of your images a new name',
    options: { force: { type: 'boolean' } },
    positionals: [2, 2],
    run: (ctx, args, values) => import('./image-run.ts').then((m) => m.copy(verb)(ctx, args, values)),
  };
}

const remove: Command = {
  path: ['image', 'remove'],
  usage: 'kiln image remove <image>...',
  summary: 'remove images; their blobs go when no other image needs them',
  options: {},
  positionals: [1, Infinity],
  run: (ctx, args, values) => import('./image-run.ts').then((m) => m.remove(ctx, args, values)),
};

/** The `kiln image …` commands. */
export const IMAGE_COMMANDS: readonly Command[] = [show, inspect, importCmd, exportCmd, copyCommand('duplicate'), copyCommand('rename'), remove, ...BOOT_TEST_COMMANDS];
