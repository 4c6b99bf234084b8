import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGaneshaNfsBackend } from './nfs.ts';
import { nodeExportPaths } from './nfs-exports.ts';

const MAC = '52:54:00:00:00:01';
const LISTEN = { address: '127.0.0.1', nfsPort: 2049, mountPort: 20048 };

/** A stand-in for ganesha.nfsd: a process that ignores SIGHUP, and its pid file. */
function fakeGanesha(t: { after: (fn: () => void) => void }): { dir: string; pidFile: string; configPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ganesha-'));
  const child = spawn('sh', ['-c', 'trap "" HUP; exec sleep 120'], { stdio: 'ignore' });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const pidFile = join(dir, 'ganesha.pid');
  writeFileSync(pidFile, `${child.pid}\n`);
  return { dir, pidFile, configPath: join(dir, 'ganesha.conf') };
}

/** The pseudo paths a ganesha configuration file exports. */
function pseudoPaths(config: string): string[] {
  return [...config.matchAll(/Pseudo = "([^"]+)"/gu)].map((m) => m[1] as string);
}

test('ganesha backend: a node moved to another tree is re-added only once ganesha shows it removed, however slow the reload', async (t) => {
  const { dir, pidFile, configPath } = fakeGanesha(t);
  // Ganesha shows a configuration only a few reads after it was written (a slow reload).
  const seen: { shown: string[]; newTreeWritten: boolean }[] = [];
  let shown: string[] = [];
  let lastConfig = '';
  let lag = 0;
  const listExports = async (): Promise<string[]> => {
    const config = readFileSync(configPath, 'utf8');
    if (config !== lastConfig) { lastConfig = config; lag = 3; }
    if (lag > 0 && --lag === 0) shown = pseudoPaths(config);
    seen.push({ shown, newTreeWritten: config.includes(join(dir, 'b')) });
    return shown;
  };
  const backend = createGaneshaNfsBackend({ configPath, pidFile, listen: LISTEN, listExports, pollMs: 1 });
  const paths = nodeExportPaths(MAC);
  await backend.apply([{ mac: MAC, tree: join(dir, 'a'), persist: join(dir, 'p') }]);
  assert.deepEqual(shown, [paths.fs, paths.persist], 'apply returns once ganesha shows the exports');
  seen.length = 0;
  await backend.apply([{ mac: MAC, tree: join(dir, 'b'), persist: join(dir, 'p') }]);
  const firstNew = seen.findIndex((s) => s.newTreeWritten);
  assert.ok(firstNew > 0);
  assert.ok(seen.slice(0, firstNew).some((s) => s.shown.length === 0), 'the moved node was seen unexported before its new tree was written');
  assert.match(readFileSync(configPath, 'utf8'), new RegExp(`Path = "${join(dir, 'b')}"`, 'u'));
  assert.deepEqual(shown, [paths.fs, paths.persist]);
});

test('ganesha backend: an export ganesha never shows fails apply() after the bound, saying which path is missing', async (t) => {
  const { dir, pidFile, configPath } = fakeGanesha(t);
  const backend = createGaneshaNfsBackend({ configPath, pidFile, listen: LISTEN, listExports: async () => [], reloadTimeoutMs: 200, pollMs: 10 });
  await assert.rejects(backend.apply([{ mac: MAC, tree: join(dir, 'a'), persist: join(dir, 'p') }]),
    (err: Error & { code?: string }) => err.code === 'TOOL_FAILED' && err.message.includes(`missing ${nodeExportPaths(MAC).fs}`));
});

test('ganesha backend: not running yet (no pid file), apply() writes the configuration and returns', async (t) => {
  const { dir, configPath } = fakeGanesha(t);
  const backend = createGaneshaNfsBackend({ configPath, pidFile: join(dir, 'absent.pid'), listen: LISTEN, listExports: () => Promise.reject(new Error('not called')) });
  await backend.apply([{ mac: MAC, tree: join(dir, 'a'), persist: join(dir, 'p') }]);
  assert.deepEqual(pseudoPaths(readFileSync(configPath, 'utf8')), [nodeExportPaths(MAC).fs, nodeExportPaths(MAC).persist]);
});
