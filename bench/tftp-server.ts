/**
 * Kiln's TFTP server over one directory, for bench/tftp.sh.
 *
 * Usage: node bench/tftp-server.ts <dir>
 * Prints "port <n>" once listening on 127.0.0.1; on SIGTERM stops and prints one JSON line:
 * transfers by result, peak RSS and the longest event-loop delay (perf_hooks). The probe ticks
 * every 10 ms: at 1 ms its thousand wake-ups a second were work tftpd-hpa does not do, while a
 * stall still shows in full (the tick after it is late by the stall's length).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createTftpServer } from '../src/boot/index.ts';
import { createDirResolver } from '../test/dir-resolver.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/tftp-server.ts <dir>');
const results: Record<string, number> = {};
const server = createTftpServer({
  address: '127.0.0.1',
  port: 0,
  resolver: createDirResolver(dir),
  log: (e) => void (results[e.result] = (results[e.result] ?? 0) + 1),
});
const histogram = monitorEventLoopDelay({ resolution: 10 });
histogram.enable();
const { port } = await server.start();
console.log(`port ${port}`);
process.once('SIGTERM', () => {
  void server.stop().then(() => {
    histogram.disable();
    console.log(JSON.stringify({
      transfers: results,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      maxEventLoopDelayMs: +(histogram.max / 1e6).toFixed(1),
      p99EventLoopDelayMs: +(histogram.percentile(99) / 1e6).toFixed(1),
    }));
  });
});
