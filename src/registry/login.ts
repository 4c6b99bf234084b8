import { KilnError, ErrorCode } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { removeCredentials, saveCredentials, type Credentials } from './auth-file.ts';
import { ping } from './distribution.ts';
import { credentialKeys, type RegistrySession } from './session.ts';

/** The registry a `login`/`logout` argument names: a label, else a configured `host[:port]`. */
export function loginTarget(registries: readonly RegistryConfig[], name: string): RegistryConfig {
  const found = registries.find((r) => r.label === name) ?? registries.find((r) => name === r.host || name === `${r.host}:${r.port}`);
  if (!found) {
    throw new KilnError(ErrorCode.CONFIG, `unknown registry "${name}"`, {
      hint: `configured registries: ${registries.map((r) => r.label).join(', ') || '(none)'}; add it to the registries list of kiln.yaml`,
    });
  }
  return found;
}

/**
 * Checks credentials against the registry (GET /v2/, answering its Basic or Bearer
 * challenge with them) and stores them in the auth file. Returns the file and whether
 * the registry actually asked for them.
 */
export async function login(session: RegistrySession, name: string, creds: Credentials): Promise<{ registry: RegistryConfig; file: string }> {
  const registry = loginTarget(session.registries, name);
  if (registry.auth === 'none') {
    throw new KilnError(ErrorCode.CONFIG, `registry ${registry.label} is configured with "auth: none": Kiln never sends it credentials`, {
      hint: `set "auth: basic" for ${registry.label} in kiln.yaml first`,
    });
  }
  if (creds.username === '' || creds.username.includes(':')) {
    throw new KilnError(ErrorCode.USAGE, 'the user name is empty or contains ":"', { hint: 'give it with --username' });
  }
  try {
    await ping(session.transportWith(registry, creds));
  } catch (err) {
    if (err instanceof KilnError && err.code === ErrorCode.AUTH) {
      throw new KilnError(ErrorCode.AUTH, `${registry.label} refused the user name and password of ${creds.username}`, {
        cause: err, hint: `check them and run \`kiln login ${registry.label}\` again; nothing was saved`,
      });
    }
    throw err;
  }
  await saveCredentials(session.authFiles, credentialKeys(registry), creds);
  return { registry, file: session.authFiles.write };
}

/** Removes a registry's credentials from the auth file. */
export async function logout(session: RegistrySession, name: string): Promise<{ registry: RegistryConfig; file: string }> {
  const registry = loginTarget(session.registries, name);
  if (!(await removeCredentials(session.authFiles, credentialKeys(registry)))) {
    throw new KilnError(ErrorCode.NOT_FOUND, `not logged in to ${registry.label} (no credentials in ${session.authFiles.write})`, {
      hint: 'credentials that docker wrote to ~/.docker/config.json are removed with `docker logout`',
    });
  }
  return { registry, file: session.authFiles.write };
}
