import type { Command } from './command.ts';

/** The options of a boot test, shared by `image boot-test` and `image publish --boot-test`. */
export const BOOT_TEST_OPTIONS = {
  model: { type: 'string' },
  mode: { type: 'string' },
  timeout: { type: 'string' },
  accel: { type: 'string' },
  run: { type: 'string' },
} as const;

const bootTest: Command = {
  path: ['image', 'boot-test'],
  usage: 'kiln image boot-test <image> [--model <model>] [--mode live|nfs] [--timeout S] [--accel auto|kvm|tcg] [--new-node] [--run <cmd>] [--json]',
  summary: 'boot an image in a qemu VM on a private network against Kiln\'s own DHCP, TFTP and HTTP; prints each boot milestone and its time (root; KVM when /dev/kvm works, else TCG)',
  options: { ...BOOT_TEST_OPTIONS, 'new-node': { type: 'boolean' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./boot-test-run.ts').then((m) => m.bootTest(ctx, args, values)),
};

/** `kiln image boot-test`. */
export const BOOT_TEST_COMMANDS: readonly Command[] = [bootTest];
