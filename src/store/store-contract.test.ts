import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './store.ts';
import { createFakeStore } from './fake-store.ts';
import { runStoreContract } from './store-contract.ts';

runStoreContract('the store on disk', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'kiln-contract-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return openStore({ home });
});

runStoreContract('the in-memory fake', () => createFakeStore());
