import type { Command } from './command.ts';

const shell: Command = {
  path: ['image', 'shell'],
  usage: 'kiln image shell <image> [--save-as <name> | --overwrite | --no-save]',
  summary: 'an interactive shell in a container of the image (its architecture, its walt-image-shell-start/-shutdown hooks); on exit the changes become a new image, overwrite it, or are discarded',
  options: { 'save-as': { type: 'string' }, overwrite: { type: 'boolean' }, 'no-save': { type: 'boolean' } },
  positionals: [1, 1],
  run: (ctx, args, values) => import('./edit-run.ts').then((m) => m.shell(ctx, args, values)),
};

const cp: Command = {
  path: ['image', 'cp'],
  usage: 'kiln image cp <src> <dst>   (a path in an image is <image>:<path>)',
  summary: 'copy files host → image, image → host or image → image, modes, owners, symlinks and xattrs kept; a write adds one layer to the destination image',
  options: {},
  positionals: [2, 2],
  run: (ctx, args, values) => import('./edit-run.ts').then((m) => m.cp(ctx, args, values)),
};

const squash: Command = {
  path: ['image', 'squash'],
  usage: 'kiln image squash <image>',
  summary: 'rewrite one of your images as a single layer with the same files',
  options: {},
  positionals: [1, 1],
  run: (ctx, args, values) => import('./edit-run.ts').then((m) => m.squash(ctx, args, values)),
};

/** `kiln image shell`, `kiln image cp`, `kiln image squash`. */
export const EDIT_COMMANDS: readonly Command[] = [shell, cp, squash];
