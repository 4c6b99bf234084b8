import { KilnError, ErrorCode, hasUserinfo, isKilnError, redactUserinfo, type Logger, type Progress } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import { exportBootArtifacts } from '../export/index.ts';
import { createRegistrySession, ping, publishImage, pushImage, repositoryName, type RegistrySession } from '../registry/index.ts';
import type { ImageRef, Store } from '../store/index.ts';
import { specPosition, type BuildSpec } from './spec.ts';

/** Where `publish_registry` points: a registry, and the namespace images go under (undefined: the Kiln user's). */
export interface RegistryTarget {
  registry: RegistryConfig;
  namespace: string | undefined;
  /** Not in kiln.yaml: made from host[:port] and registry_opts_push. */
  adHoc: boolean;
  /** `--tls-verify=false` without a scheme: https without verification, else plain http, as buildah does. */
  httpFallback: boolean;
}

/** What a spec publishes after a successful build: a registry target and/or an S3 destination. */
export interface PublishPlan {
  spec: BuildSpec;
  registry?: RegistryTarget;
  s3?: { endpoint: string; dest: string };
}

/** What was published: `host:port/repo:tag` references and S3 object URLs. */
export interface PublishOutcome {
  registry: string[];
  s3: string[];
}

/**
 * Refuses a registry reference with a user or password before its host: credentials would
 * be printed (plan, logs, errors) and stored in the spec; they belong in the auth file.
 */
export function refuseUrlCredentials(value: string, what: string): void {
  if (!hasUserinfo(value)) return;
  throw new KilnError(ErrorCode.AUTH, `${what} "${redactUserinfo(value)}" has a user name or password in it; Kiln does not take credentials from URLs`, {
    hint: 'remove them from the URL and run `kiln login <host:port>` (or podman/docker login) once: Kiln reads the credentials from the containers auth file',
  });
}

/** Reads registry_opts_push: only `--tls-verify[=true|false]` (podman/buildah's spelling) means something to Kiln. */
export function parseRegistryOpts(opts: readonly string[]): { tlsVerify: boolean; unknown: string[] } {
  let tlsVerify = true;
  const unknown: string[] = [];
  for (const opt of opts) {
    const m = /^--tls-verify(?:=(true|false))?$/u.exec(opt.trim());
    if (m) tlsVerify = m[1] !== 'false';
    else unknown.push(opt);
  }
  return { tlsVerify, unknown };
}

/**
 * Resolves a `publish_registry` value (pure): a configured registry's label (`local`,
 * `local/ns`), else `[http[s]://]host[:port][/namespace]`, matched against the configured
 * registries by host and port, or else used as is (`--tls-verify=false` allows
 * https without verification and plain http). Throws CONFIG for unusable values.
 */
export function resolvePublishRegistry(value: string, opts: readonly string[], registries: readonly RegistryConfig[]): RegistryTarget {
  refuseUrlCredentials(value, 'publish_registry');
  const { tlsVerify, unknown } = parseRegistryOpts(opts);
  if (unknown.length > 0) {
    throw new KilnError(ErrorCode.CONFIG, `registry_opts_push: ${unknown.map((o) => `"${o}"`).join(', ')} not understood by kiln`, {
      hint: 'kiln reads only --tls-verify=false; credentials come from kiln login (or podman/docker login)',
    });
  }
  const m = /^(?:(https?):\/\/)?([^/\s]+?)(?::(\d{1,5}))?(?:\/([^\s]*?))?\/?$/u.exec(value.trim());
  if (!m) throw new KilnError(ErrorCode.CONFIG, `publish_registry "${value}" is not host[:port][/namespace] nor a registry label`, { hint: 'e.g. registry.lab:5000/openchami, or the label of a registry of kiln.yaml' });
  const [, scheme, host, portText, path] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined];
  const namespace = path === undefined || path === '' ? undefined : path;
  if (namespace !== undefined && !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/u.test(namespace)) {
    throw new KilnError(ErrorCode.CONFIG, `publish_registry "${value}": "${namespace}" is not a valid repository namespace`, { hint: 'use lower-case letters, digits, ".", "_", "-" and "/"' });
  }
  const byLabel = scheme === undefined && portText === undefined ? registries.find((r) => r.label === host) : undefined;
  const port = portText === undefined ? undefined : Number(portText);
  const configured = byLabel ?? registries.find((r) => r.host === host && (port === undefined || r.port === port) && r.api !== 'docker-hub');
  if (configured) {
    const relaxed = !tlsVerify && configured.protocol === 'https' ? { ...configured, protocol: 'https-no-verify' as const } : configured;
    return { registry: relaxed, namespace, adHoc: false, httpFallback: false };
  }
  const protocol: RegistryConfig['protocol'] = scheme === 'http' ? 'http' : tlsVerify ? 'https' : 'https-no-verify';
  const registry: RegistryConfig = {
    label: `${host}${portText ? `:${portText}` : ''}`, api: 'docker-registry-v2', host, port: port ?? (protocol === 'http' ? 80 : 443), protocol, auth: 'basic',
  };
  return { registry, namespace, adHoc: true, httpFallback: scheme === undefined && !tlsVerify };
}

/** The publish plan of each spec (pure), or one CONFIG error listing every problem with its file:line:col. */
export function planPublish(specs: readonly BuildSpec[], registries: readonly RegistryConfig[]): PublishPlan[] {
  const problems: string[] = [];
  const plans = specs.map((spec): PublishPlan => {
    const o = spec.options;
    const plan: PublishPlan = { spec };
    if (o.publish_registry !== undefined) {
      try {
        plan.registry = resolvePublishRegistry(o.publish_registry, o.registry_opts_push, registries);
      } catch (err) {
        if (!isKilnError(err)) throw err;
        if (err.code === ErrorCode.AUTH) throw new KilnError(err.code, `${specPosition(spec, 'options.publish_registry')}: ${err.message}`, { hint: err.hint });
        problems.push(`${specPosition(spec, 'options.publish_registry')}: ${err.message} (${err.hint})`);
      }
    }
    const s3Keys = [o.s3_bucket, o.s3_prefix].some((v) => v !== undefined);
    if (o.publish_s3 !== undefined) {
      if (hasUserinfo(o.publish_s3)) {
        problems.push(`${specPosition(spec, 'options.publish_s3')}: publish_s3 "${redactUserinfo(o.publish_s3)}" has a user or password in it (remove them; S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or S3_ACCESS/S3_SECRET)`);
      } else if (!/^https?:\/\/[^/\s]+\/?$/u.test(o.publish_s3)) problems.push(`${specPosition(spec, 'options.publish_s3')}: publish_s3 "${o.publish_s3}" is not an S3 endpoint URL (http[s]://host[:port])`);
      if (o.s3_bucket === undefined) problems.push(`${specPosition(spec, 'options.publish_s3')}: publish_s3 needs s3_bucket`);
      else plan.s3 = { endpoint: o.publish_s3.replace(/\/$/u, ''), dest: `s3://${o.s3_bucket}/${(o.s3_prefix ?? '').replace(/^\/+/u, '')}` };
    } else if (s3Keys) {
      problems.push(`${specPosition(spec, o.s3_bucket !== undefined ? 'options.s3_bucket' : 'options.s3_prefix')}: s3_bucket and s3_prefix go with publish_s3 (the S3 endpoint URL)`);
    }
    return plan;
  });
  if (problems.length > 0) {
    throw new KilnError(ErrorCode.CONFIG, `${problems.length} problem${problems.length === 1 ? '' : 's'} with publishing:\n  ${problems.join('\n  ')}`, {
      hint: 'see the README, "Building images": publish_registry, registry_opts_push, publish_s3, s3_bucket, s3_prefix',
    });
  }
  return plans;
}

/** What publishing needs from the command: kiln.yaml's registries, environment (credentials, S3), output. */
export interface PublishSetup {
  registries: readonly RegistryConfig[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  /** network_idle_timeout (ms) of registry and S3 transfers. */
  idleTimeoutMs?: number;
}

/** Picks https-no-verify or http for a registry given without a scheme and --tls-verify=false, by asking /v2/ over https first. */
export async function settleProtocol(target: RegistryTarget, setup: Pick<PublishSetup, 'env' | 'logger' | 'signal' | 'idleTimeoutMs'>): Promise<RegistryConfig> {
  if (!target.httpFallback) return target.registry;
  const probe = createRegistrySession({ registries: [target.registry], env: setup.env, logger: setup.logger, idleTimeoutMs: setup.idleTimeoutMs });
  try {
    await ping(probe.transport(target.registry.label), setup.signal);
    return target.registry;
  } catch (err) {
    if (!isKilnError(err) || err.code !== ErrorCode.NETWORK) throw err;
    const port = target.registry.port === 443 ? 80 : target.registry.port;
    setup.logger.debug(`${target.registry.label}: no TLS there (${err.message}); pushing over http`);
    return { ...target.registry, protocol: 'http', port };
  }
}

/**
 * Publishes one built spec under every tag: to the registry (`publishImage` for the
 * user's own namespace, so the clone URL and Hub metadata work as with `kiln image
 * publish`; another namespace gets the same push under `<namespace>/<name>`), then SquashFS,
 * kernel and initramfs to S3 under OpenCHAMI's names.
 */
export async function publishBuilt(store: Store, plan: PublishPlan, refs: readonly ImageRef[], setup: PublishSetup & { user: string }): Promise<PublishOutcome> {
  const out: PublishOutcome = { registry: [], s3: [] };
  if (plan.registry) {
    const registry = await settleProtocol(plan.registry, setup);
    const registries = plan.registry.adHoc ? [...setup.registries, registry] : setup.registries.map((r) => (r.label === registry.label ? registry : r));
    const session: RegistrySession = createRegistrySession({ registries, env: setup.env, logger: setup.logger, idleTimeoutMs: setup.idleTimeoutMs, ...(setup.progress ? { progress: setup.progress } : {}) });
    const namespace = plan.registry.namespace;
    for (const ref of refs) {
      const where = `${registry.host}:${registry.port}`;
      if (namespace === undefined || namespace === setup.user) {
        const r = await publishImage(session, store, setup.user, `${ref.name}:${ref.tag}`, registry.label, setup.signal);
        out.registry.push(`${where}/${repositoryName(registry, `${ref.user}/${ref.name}`)}:${ref.tag}`);
        setup.logger.info(`published ${ref.name}:${ref.tag} to ${registry.label} (${r.cloneUrl})`);
      } else {
        const repo = repositoryName(registry, `${namespace}/${ref.name}`);
        await pushImage({ store, transport: session.transport(registry.label), record: store.getImage(ref), repo, tag: ref.tag, logger: setup.logger, signal: setup.signal });
        out.registry.push(`${where}/${repo}:${ref.tag}`);
        setup.logger.info(`published ${ref.name}:${ref.tag} as ${where}/${repo}:${ref.tag}`);
      }
    }
  }
  if (plan.s3) {
    for (const ref of refs) {
      const result = await exportBootArtifacts(store, store.getImage(ref), plan.s3.dest, {
        format: 'boot', layout: 'openchami', s3Endpoint: plan.s3.endpoint, env: setup.env, logger: setup.logger, signal: setup.signal, idleTimeoutMs: setup.idleTimeoutMs,
      });
      out.s3.push(...result.written, ...result.unchanged);
      setup.logger.info(`published ${ref.name}:${ref.tag} to ${plan.s3.endpoint}/${plan.s3.dest.slice(5)} (${result.written.length} written, ${result.unchanged.length} unchanged)`);
    }
  }
  return out;
}
