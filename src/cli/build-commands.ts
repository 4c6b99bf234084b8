import type { Command } from './command.ts';

const build: Command = {
  path: ['image', 'build'],
  usage: 'kiln image build <spec.yaml>... [--dry-run] [--no-cache] [--force] [--log-level DEBUG|INFO|WARN|ERROR] [--allow-host-path <dir>]...\n'
    + '       kiln image build <name> --from-dir <dir> | --from-url <git-url> [--build-arg k=v]... [--dry-run] [--no-cache]',
  summary: 'build images from OpenCHAMI image-builder specs (apt) or from a Dockerfile (--from-dir, --from-url), each step cached; --dry-run prints the plan; --force publishes node images that fail the check',
  // --allow-host-path: copyfiles may read below <dir> besides the spec's directory (with kiln.yaml's allow_host_paths).
  options: {
    'dry-run': { type: 'boolean' }, 'no-cache': { type: 'boolean' }, force: { type: 'boolean' }, 'log-level': { type: 'string' }, 'allow-host-path': { type: 'string', multiple: true },
    'from-dir': { type: 'string' }, 'from-url': { type: 'string' }, 'build-arg': { type: 'string', multiple: true },
  },
  positionals: [1, Infinity],
  run: (ctx, args, values) => import('./build-run.ts').then((m) => m.build(ctx, args, values)),
};

/** `kiln image build`. */
export const BUILD_COMMANDS: readonly Command[] = [build];
