// What `kiln serve` does once parsed; loaded only when one of them runs (the table is serve-commands.ts).
import type { BootRequestLog, DhcpRequestLog } from '../app/index.ts';
import type { Run } from './command.ts';

export const serve: Run = async (ctx) => {
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
};
