import type { Command } from './command.ts';
import { BOOT_TEST_OPTIONS } from './boot-test-commands.ts';

const search: Command = {
  path: ['image', 'search'],
  usage: 'kiln image search [<keyword>] [--json]',
  summary: 'find node images of other users, the Docker daemon, Docker Hub and each configured registry, with their clone URL',
  options: {},
  positionals: [0, 1],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.search(ctx, args, values)),
};

const clone: Command = {
  path: ['image', 'clone'],
  usage: 'kiln image clone <url> [<name>] [--force] [--platform os/arch[/variant]]',
  summary: 'copy an image into your images from walt:, docker:, hub: or <label>: (a clone URL from `kiln image search`)',
  options: { force: { type: 'boolean' }, platform: { type: 'string' } },
  positionals: [1, 2],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.clone(ctx, args, values)),
};

const publish: Command = {
  path: ['image', 'publish'],
  usage: 'kiln image publish <image> [--registry <label>] [--force] [--boot-test [--model M] [--mode live|nfs] [--timeout S] [--accel A]]',
  summary: 'push one of your images to a registry (default: Docker Hub, or the only one configured) and print its clone URL; --boot-test boots it in a VM first and publishes only when it boots',
  options: { registry: { type: 'string' }, force: { type: 'boolean' }, 'boot-test': { type: 'boolean' }, ...BOOT_TEST_OPTIONS },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.publish(ctx, args, values)),
};

const loginCmd: Command = {
  path: ['login'],
  usage: 'kiln login <label> [--username <user>] [--password-stdin]',
  summary: 'check and store credentials for a registry in the containers auth file (the password is read without echo, or from stdin)',
  options: { username: { type: 'string', short: 'u' }, 'password-stdin': { type: 'boolean' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.loginCmd(ctx, args, values)),
};

const logoutCmd: Command = {
  path: ['logout'],
  usage: 'kiln logout <label>',
  summary: 'remove a registry\'s credentials from the containers auth file',
  options: {},
  positionals: [1, 1],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.logoutCmd(ctx, args, values)),
};

const list: Command = {
  path: ['registry', 'list'],
  usage: 'kiln registry list [--json]',
  summary: 'show the configured registries (kiln.yaml `registries:`, Docker Hub by default) and whether you are logged in',
  options: {},
  positionals: [0, 0],
  run: (ctx, args, values) => import('./registry-run.ts').then((m) => m.list(ctx, args, values)),
};

/** The registry commands: image search, clone and publish, login, logout and registry list. */
export const REGISTRY_COMMANDS: readonly Command[] = [search, clone, publish, loginCmd, logoutCmd, list];
