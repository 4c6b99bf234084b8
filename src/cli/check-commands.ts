import type { Command } from './command.ts';

const check: Command = {
  path: ['image', 'check'],
  usage: 'kiln image check <image> [--model <model>]... [--json]',
  summary: 'tell whether an image can boot its node models (labels, boot files, kernel, init, busybox, commands, ssh, options) without running it',
  options: { model: { type: 'string', multiple: true } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./check-run.ts').then((m) => m.check(ctx, args, values)),
};

/** The `kiln image check` command. */
export const CHECK_COMMANDS: readonly Command[] = [check];
