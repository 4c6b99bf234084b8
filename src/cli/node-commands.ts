import type { Command } from './command.ts';

const show: Command = {
  path: ['node', 'show'],
  usage: 'kiln node show [--all] [--json]',
  summary: 'list your nodes (name, model, image, IP, MAC, last boot request and when); --all adds free nodes, other users\' and unknown devices',
  options: { all: { type: 'boolean' } },
  positionals: [0, 0],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.show(ctx, args, values)),
};

const register: Command = {
  path: ['node', 'register'],
  usage: 'kiln node register <mac> --model <model> [--name <name>] [--ip <address>] [--image <image>]',
  summary: 'add a node (static set-ups): named <model>-<last 6 hex digits of the MAC> unless --name, booting its model\'s default image unless --image',
  options: { model: { type: 'string' }, name: { type: 'string' }, ip: { type: 'string' }, image: { type: 'string' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.register(ctx, args, values)),
};

const boot: Command = {
  path: ['node', 'boot'],
  usage: 'kiln node boot <node-set> <image|default> [--force]',
  summary: 'boot nodes (names separated by commas, or "all") on one of your images, or on their model\'s default image; they use it on their next reboot',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.boot(ctx, args, values)),
};

const rename: Command = {
  path: ['node', 'rename'],
  usage: 'kiln node rename <node> <new-name> [--force]',
  summary: 'rename a node (names are unique; its MAC and IP still name it)',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.rename(ctx, args, values)),
};

const forget: Command = {
  path: ['node', 'forget'],
  usage: 'kiln node forget <node-set>... [--force]',
  summary: 'remove nodes from the catalog (one that boots again is an unknown device)',
  options: { force: { type: 'boolean' } },
  positionals: [1, Infinity],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.forget(ctx, args, values)),
};

const config: Command = {
  path: ['node', 'config'],
  usage: 'kiln node config <node-set> <key>=<value>... [--force]',
  summary: 'set per-node settings (numbers and true/false are typed, other values are text; <key>= removes a setting)',
  options: { force: { type: 'boolean' } },
  positionals: [2, Infinity],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.config(ctx, args, values)),
};

const run: Command = {
  path: ['node', 'run'],
  usage: 'kiln node run <node> [--force] -- <command>...',
  summary: 'run a command on a node as root over SSH (the server\'s key; the node\'s host key as Kiln generated it, never trusted on first use)',
  options: { force: { type: 'boolean' } },
  positionals: [2, Infinity],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.run(ctx, args, values)),
};

const shell: Command = {
  path: ['node', 'shell'],
  usage: 'kiln node shell <node> [--force]',
  summary: 'an interactive root shell on a node over SSH',
  options: { force: { type: 'boolean' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.shell(ctx, args, values)),
};

const reboot: Command = {
  path: ['node', 'reboot'],
  usage: 'kiln node reboot <node> [--force]',
  summary: 'reboot a node over SSH (its /bin/walt-reboot when the image has one, else reboot)',
  options: { force: { type: 'boolean' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.reboot(ctx, args, values)),
};

const cp: Command = {
  path: ['node', 'cp'],
  usage: 'kiln node cp <node>:<path> <local> | <local> <node>:<path> [--force]',
  summary: 'copy files (recursively) from or to a node over SSH (scp)',
  options: { force: { type: 'boolean' } },
  positionals: [2, 2],
  run: (ctx, args, values) => import('./node-run.ts').then((m) => m.cp(ctx, args, values)),
};

/** The `kiln node` commands. */
export const NODE_COMMANDS: readonly Command[] = [show, register, boot, rename, forget, config, run, shell, reboot, cp];
