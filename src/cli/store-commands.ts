import type { Command } from './command.ts';

const verify: Command = {
  path: ['store', 'verify'],
  usage: 'kiln store verify [--json]',
  summary: 're-hash every blob, check every image\'s blobs are present and index.json matches the catalog',
  options: {},
  positionals: [0, 0],
  run: (ctx, args, values) => import('./store-run.ts').then((m) => m.verify(ctx, args, values)),
};

const gc: Command = {
  path: ['store', 'gc'],
  usage: 'kiln store gc [--json]',
  summary: 'delete blobs no image references, work files and partial downloads of dead processes, caches of deleted blobs, and build steps no image uses',
  options: {},
  positionals: [0, 0],
  run: (ctx, args, values) => import('./store-run.ts').then((m) => m.gc(ctx, args, values)),
};

const config: Command = {
  path: ['config'],
  usage: 'kiln config [--json]',
  summary: 'show the settings in force and where each comes from',
  options: {},
  positionals: [0, 0],
  run: (ctx, args, values) => import('./store-run.ts').then((m) => m.config(ctx, args, values)),
};

/** The `kiln store …` and `kiln config` commands. */
export const STORE_COMMANDS: readonly Command[] = [verify, gc, config];
