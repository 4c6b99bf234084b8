// What `kiln serve` does once parsed; loaded only when one of them runs (the table is serve-commands.ts).
import type { BootRequestLog, DhcpRequestLog } from '../app/index.ts';
import type { Run } from './command.ts';
import { untilStopped } from './signals.ts';

export const serve: Run = async (ctx) => {
  await untilStopped((signal) => ctx.kiln.serve(ctx.request(signal), {
    log: (entry: BootRequestLog) => ctx.out(JSON.stringify({ time: new Date().toISOString(), ...entry })),
    dhcpLog: (entry: DhcpRequestLog) => ctx.out(JSON.stringify({ time: new Date().toISOString(), ...entry })),
    onReady: (a) => ctx.out(JSON.stringify({ time: new Date().toISOString(), listening: a })),
  }));
};
