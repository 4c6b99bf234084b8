import { SETTINGS, networkIdleTimeoutMs, tarLimitsOf, type Config, type SettingKey } from '../config/index.ts';
import { configureTarLimits, silentLogger, type Logger } from '../core/index.ts';
import type { CloneResult, Credentials, PublishResult, SearchFailure, SearchHit } from '../registry/index.ts';
import { formatImageRef, openStore, type DeviceRecord, type GcReport, type ImageConfig, type ImageFormat, type ImageManifest, type ImageRecord, type ImageRef, type Store, type VerifyReport } from '../store/index.ts';
import type { CheckReport } from '../check/index.ts';
import type { RegistryConfig } from '../config/index.ts';
import type { Core } from './core.ts';
import type { BuildOutcome, BuildRequest, DockerfileBuildOutcome, DockerfileRequest } from './build.ts';
import type { EditOutcome, ShellRequest } from './edit.ts';
import type { NodeSshAction } from './node-ssh.ts';
import type { ExportOutcome, ExportRequest, ImportRequest } from './images.ts';
import { copyImage, inspectImage, listImages } from './listing.ts';
import type { RegistryRow } from './registry.ts';
import { resolveRequest, type Clock, type Request } from './request.ts';
import type { ImageUsage } from './usage.ts';
import type { ImageView } from './view.ts';
import type { ServeOptions } from './serve.ts';
import type { BootTestOutcome, BootTestRequest } from './boot-test.ts';
import { listNodes, type NodeView } from './node-views.ts';

// Start-up cost: the operations that need the builder, the registry client, the export
// (S3, SquashFS) or the boot servers load their module on their first call, so listing
// images or nodes opens the store alone. The type imports above cost nothing at run time.
const images = () => import('./images.ts');
const nodes = () => import('./nodes.ts');
const registry = () => import('./registry.ts');
const maintenance = () => import('./maintenance.ts');
const build = () => import('./build.ts');
const edit = () => import('./edit.ts');

/** How to create a Kiln. */
export interface KilnOptions {
  /** KILN_HOME. */
  home: string;
  config: Config;
  /** The core's own messages (the store's); each request may bring its own. */
  logger?: Logger;
  clock?: Clock;
  /** Credentials files, S3 keys, SOURCE_DATE_EPOCH, DOCKER_HOST. */
  env?: NodeJS.ProcessEnv;
  /** Which images nodes boot; nothing until the catalog keeps nodes. */
  usage?: ImageUsage;
  /** A store to use instead of opening the one under `home` (tests: a fake or a broken store); its owner closes it. */
  store?: Store;
}

/** One setting in force, and where it comes from. */
export interface SettingView {
  key: SettingKey;
  env: string;
  value: string;
  source: Config['sources'][SettingKey];
  doc: string;
}

/**
 * The application core: every operation Kiln offers, each taking the request (acting user,
 * signal, progress, logger). The CLI and the daemon are thin edges over it.
 */
export interface Kiln {
  readonly config: Config;
  listImages(req: Request, options?: { all?: boolean }): { mine: ImageView[]; others: ImageView[] };
  inspectImage(req: Request, name: string): Promise<{ view: ImageView; manifest: ImageManifest; config: ImageConfig }>;
  importImage(req: Request, path: string, options?: ImportRequest): Promise<{ view: ImageView; format: ImageFormat; check?: CheckReport }>;
  exportImage(req: Request, name: string, dest: string, options: ExportRequest): Promise<ExportOutcome>;
  duplicateImage(req: Request, from: string, to: string, options?: { force?: boolean }): { source: ImageRef; view: ImageView };
  renameImage(req: Request, from: string, to: string, options?: { force?: boolean }): { source: ImageRef; view: ImageView };
  removeImages(req: Request, names: readonly string[]): Promise<ImageRef[]>;
  checkImage(req: Request, name: string, options?: { models?: readonly string[] }): Promise<CheckReport>;
  buildImages(req: Request, files: readonly string[], options?: BuildRequest): Promise<BuildOutcome[]>;
  /** Builds a Dockerfile (`kiln image build <name> --from-dir|--from-url`). */
  buildDockerfile(req: Request, options: DockerfileRequest): Promise<DockerfileBuildOutcome>;
  searchImages(req: Request, keyword?: string): Promise<{ hits: SearchHit[]; failures: SearchFailure[] }>;
  cloneImage(req: Request, url: string, options?: { name?: string | undefined; force?: boolean; platform?: string | undefined }): Promise<CloneResult & { check?: CheckReport }>;
  publishImage(req: Request, name: string, options?: { registry?: string | undefined; force?: boolean }): Promise<PublishResult>;
  login(req: Request, label: string, creds: Credentials): Promise<{ registry: RegistryConfig; file: string }>;
  logout(req: Request, label: string): Promise<{ registry: RegistryConfig; file: string }>;
  listRegistries(req: Request): Promise<RegistryRow[]>;
  /** Your nodes, and with `all` free and other users' nodes. */
  listNodes(req: Request, options?: { all?: boolean }): { mine: NodeView[]; others: NodeView[]; devices?: DeviceRecord[] };
  registerNode(req: Request, mac: string, options: { model: string; name?: string | undefined; ip?: string | undefined; image?: string | undefined }): Promise<NodeView>;
  /** Points a node set (names, MACs or IPs separated by commas, or `all`) at an image of yours or `default`. */
  bootNodes(req: Request, nodeSet: string, image: string, options?: { force?: boolean }): Promise<NodeView[]>;
  renameNode(req: Request, node: string, newName: string, options?: { force?: boolean }): Promise<NodeView>;
  forgetNodes(req: Request, nodeSets: readonly string[], options?: { force?: boolean }): Promise<NodeView[]>;
  configNode(req: Request, nodeSet: string, settings: Readonly<Record<string, unknown>>, options?: { force?: boolean }): Promise<NodeView[]>;
  /** ssh/scp to a node as root with the server's key, its host key pinned; returns ssh's exit status. */
  sshNode(req: Request, node: string, action: NodeSshAction, options?: { force?: boolean }): Promise<number>;
  /** A model's default image (`waltplatform/<model>-default:latest`), cloned into the store on first need: the serving side calls it on first sight of a node. */
  defaultImage(req: Request, model: string): Promise<ImageRecord>;
  /** An interactive shell in a container of the image; its changes saved as the request decides (`kiln image shell`). */
  shellImage(req: Request, name: string, options: ShellRequest): Promise<EditOutcome>;
  /** Copies between the host and images, or between images (`<image>:<path>`); a write is one new layer. */
  copyFiles(req: Request, source: string, dest: string): Promise<EditOutcome>;
  /** Squashes one of the user's images into one layer with the same files. */
  squashImage(req: Request, name: string): Promise<EditOutcome>;
  /** Garbage collection of the store and every cache, in one call. */
  gc(req: Request): Promise<GcReport>;
  verify(req: Request): Promise<VerifyReport>;
  /** Runs the boot services (HTTP, TFTP) until the request's signal aborts. */
  serve(req: Request, options: ServeOptions): Promise<void>;
  /** Boots an image in a VM on a private network against Kiln's own DHCP, TFTP and HTTP, and reports its milestones. */
  bootTest(req: Request, name: string, options: BootTestRequest): Promise<BootTestOutcome>;
  /** The settings in force and their sources (`kiln config`). */
  settings(): { file: string | undefined; settings: SettingView[] };
  close(): void;
}

const systemClock: Clock = { now: () => Date.now() };

/** Creates the core over KILN_HOME; the store opens on the first operation that needs it. */
export function createKiln(options: KilnOptions): Kiln {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  // Every tar walk of this process (imports, layer indexes, checks) applies the configured limits.
  configureTarLimits(tarLimitsOf(config));
  let store: Store | undefined;
  const given = options.store;
  const core: Core = {
    config,
    env: options.env ?? process.env,
    logger,
    clock: options.clock ?? systemClock,
    store: () => given ?? (store ??= openStore({ home: options.home, logger })),
    // Nodes live in the catalog: an image is in use when a node boots it (by name, as WalT).
    usage: () => options.usage ?? { imagesInUse: () => new Set(core.store().imagesInUse().map(formatImageRef)) },
    idleTimeoutMs: () => networkIdleTimeoutMs(config.values.network_idle_timeout),
  };
  const r = (req: Request) => resolveRequest(req, logger);
  // Credentials belong to whoever runs the process (the containers auth file), not to the acting user.
  const anyone = (req: Request) => resolveRequest(req, logger, false);
  /** Times an operation for --debug: the daemon will report the same figures per request. */
  const timed = async <T>(req: Request, name: string, run: () => Promise<T>): Promise<T> => {
    const started = core.clock.now();
    try {
      return await run();
    } finally {
      (req.logger ?? logger).debug(`${name} took ${core.clock.now() - started} ms`);
    }
  };
  return {
    config,
    listImages: (req, o = {}) => listImages(core, r(req), o),
    inspectImage: (req, name) => inspectImage(core, r(req), name),
    importImage: (req, path, o = {}) => timed(req, 'import', async () => (await images()).importOne(core, r(req), path, o)),
    exportImage: (req, name, dest, o) => timed(req, 'export', async () => (await images()).exportOne(core, r(req), name, dest, o)),
    duplicateImage: (req, from, to, o = {}) => copyImage(core, r(req), 'duplicate', from, to, o),
    renameImage: (req, from, to, o = {}) => copyImage(core, r(req), 'rename', from, to, o),
    removeImages: async (req, names) => (await images()).removeImages(core, r(req), names),
    checkImage: (req, name, o = {}) => timed(req, 'check', async () => (await images()).checkOne(core, r(req), name, o.models ?? [])),
    buildImages: (req, files, o = {}) => timed(req, 'build', async () => (await build()).build(core, r(req), files, o)),
    buildDockerfile: (req, o) => timed(req, 'build', async () => (await build()).buildFromDockerfile(core, r(req), o)),
    searchImages: (req, keyword) => timed(req, 'search', async () => (await registry()).search(core, r(req), keyword)),
    cloneImage: (req, url, o = {}) => timed(req, 'clone', async () => (await registry()).clone(core, r(req), url, o)),
    publishImage: (req, name, o = {}) => timed(req, 'publish', async () => (await registry()).publish(core, r(req), name, o)),
    login: async (req, label, creds) => (await registry()).loginTo(core, anyone(req), label, creds),
    logout: async (req, label) => (await registry()).logoutFrom(core, anyone(req), label),
    listRegistries: async (req) => (await registry()).listRegistries(core, anyone(req)),
    listNodes: (req, o = {}) => listNodes(core, r(req), o),
    registerNode: (req, mac, o) => timed(req, 'node register', async () => (await nodes()).registerNode(core, r(req), mac, o)),
    bootNodes: (req, set, image, o = {}) => timed(req, 'node boot', async () => (await nodes()).bootNodes(core, r(req), set, image, o)),
    renameNode: async (req, node, name, o = {}) => (await nodes()).renameNode(core, r(req), node, name, o),
    forgetNodes: async (req, sets, o = {}) => (await nodes()).forgetNodes(core, r(req), sets, o),
    configNode: async (req, set, settings, o = {}) => (await nodes()).configNode(core, r(req), set, settings, o),
    sshNode: async (req, node, action, o = {}) => (await import('./node-ssh.ts')).sshToNode(core, r(req), node, action, o),
    defaultImage: (req, model) => timed(req, 'default image', async () => (await import('./default-image.ts')).defaultImage(core, anyone(req), model)),
    shellImage: async (req, name, o) => (await edit()).shellImage(core, r(req), name, o),
    copyFiles: (req, source, dest) => timed(req, 'image cp', async () => (await edit()).copyFiles(core, r(req), source, dest)),
    squashImage: (req, name) => timed(req, 'image squash', async () => (await edit()).squashImage(core, r(req), name)),
    gc: (req) => timed(req, 'gc', async () => (await maintenance()).collectGarbage(core)),
    verify: (req) => timed(req, 'verify', async () => (await maintenance()).verifyStore(core)),
    serve: async (req, o) => (await import('./serve.ts')).serve(core, r(req), o),
    bootTest: (req, name, o) => timed(req, 'boot-test', async () => (await import('./boot-test.ts')).bootTest(core, r(req), name, o)),
    settings: () => ({
      file: config.file,
      settings: SETTINGS.map((s) => ({ key: s.key, env: s.env, value: config.values[s.key], source: config.sources[s.key], doc: s.doc })),
    }),
    close: () => store?.close(),
  };
}
