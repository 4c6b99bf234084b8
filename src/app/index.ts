/** App: the application core. Every operation, per request (user, signal, progress); the CLI and the daemon are edges over it. */
export { createKiln, type Kiln, type KilnOptions, type SettingView } from './kiln.ts';
export type { Request, Clock } from './request.ts';
export { NOTHING_IN_USE, type ImageUsage } from './usage.ts';
export type { ImageView } from './view.ts';
export { parseNodeSettings, type NodeView } from './nodes.ts';
export type { NodeSshAction } from './node-ssh.ts';
export { DEFAULT_IMAGE_USER, defaultImageRef } from './default-image.ts';
export type { ImportRequest, ExportRequest, ExportOutcome } from './images.ts';
export type { BuildRequest, BuildOutcome, DockerfileRequest, DockerfileBuildOutcome } from './build.ts';
export type { SaveChoice, ShellRequest, EditOutcome } from './edit.ts';
export type { RegistryRow } from './registry.ts';
// What the edges print with: the domains' own formatting and naming, so that every edge shows the same.
export { formatCheckReport, formatCheckSummary, type CheckReport } from '../check/index.ts';
export { formatPlan } from '../builder/index.ts';
export { LABELS, formatImageRef, shortImageName, validateUser } from '../store/index.ts';
export type { Credentials } from '../registry/index.ts';
export type { ServeOptions, ServingAddresses } from './serve.ts';
export type { BootRequestLog, DhcpRequestLog } from '../boot/index.ts';
export type { BootTestRequest, BootTestOutcome, BootMilestone } from './boot-test.ts';
export { formatMilestone } from '../boottest/index.ts';
