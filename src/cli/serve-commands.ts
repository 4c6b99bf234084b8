import type { Command } from './command.ts';

const serve: Command = {
  path: ['serve'],
  usage: 'kiln serve',
  summary: 'boot nodes: serve their images over TFTP and HTTP (and DHCP when server.dhcp is on) in the foreground (settings: kiln.yaml server:), one JSON line per request; stops on SIGINT/SIGTERM',
  options: {},
  positionals: [0, 0],
  run: (ctx, args, values) => import('./serve-run.ts').then((m) => m.serve(ctx, args, values)),
};

/** `kiln serve`. */
export const SERVE_COMMANDS: readonly Command[] = [serve];
