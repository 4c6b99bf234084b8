import type { BootRequestLog, DhcpRequestLog } from '../app/index.ts';
import type { Command } from './command.ts';

const serve: Command = {
  path: ['serve'],
  usage: 'kiln serve',
  summary: 'boot nodes: serve their images over TFTP and HTTP (and DHCP when server.dhcp is on) in the foreground (settings: kiln.yaml server:), one JSON line per request; stops on SIGINT/SIGTERM',
  options: {},
  positionals: [0, 0],
  run: async (ctx) => {
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await ctx.kiln.serve(ctx.request(stop.signal), {
        log: (entry: BootRequestLog) => ctx.out(JSON.stringify({ time: new Date().toISOString(), ...entry })),
        dhcpLog: (entry: DhcpRequestLog) => ctx.out(JSON.stringify({ time: new Date().toISOString(), ...entry })),
        onReady: (a) => ctx.out(JSON.stringify({ time: new Date().toISOString(), listening: a })),
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/** `kiln serve`. */
export const SERVE_COMMANDS: readonly Command[] = [serve];
