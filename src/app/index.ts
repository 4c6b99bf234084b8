/** App: the application core. Every operation, per request (user, signal, progress); the CLI and the daemon are edges over it. */
export { createKiln, type Kiln, type KilnOptions, type SettingView } from './kiln.ts';
export type { Request, Clock } from './request.ts';
export { NOTHING_IN_USE, type ImageUsage } from './usage.ts';
export type { ImageView } from './view.ts';
export { parseNodeSettings, type NodeView } from './node-views.ts';
export type { NodeSshAction } from './node-ssh.ts';
export { DEFAULT_IMAGE_USER, defaultImageRef } from './default-ref.ts';
export type { ImportRequest, ExportRequest, ExportOutcome } from './images.ts';
export type { BuildRequest, BuildOutcome, DockerfileRequest, DockerfileBuildOutcome } from './build.ts';
export type { SaveChoice, ShellRequest, EditOutcome } from './edit.ts';
export type { RegistryRow } from './registry.ts';
// What the edges print with: the domains' own formatting and naming, so that every edge shows the same.
// The check and builder formatters come through a loader: re-exporting them here would load
// both domains whenever an edge starts, even for a command that never prints a report.
export type { CheckReport } from '../check/index.ts';
/** The check domain's report formatters (loads the check domain). */
export const loadCheckFormat = async () => {
  const { formatCheckReport, formatCheckSummary } = await import('../check/index.ts');
  return { formatCheckReport, formatCheckSummary };
};
/** The builder's plan formatter (loads the builder domain). */
export const loadPlanFormat = async () => (await import('../builder/index.ts')).formatPlan;
export { LABELS, formatImageRef, shortImageName, validateUser } from '../store/index.ts';
export type { Credentials } from '../registry/index.ts';
export type { ServeOptions, ServingAddresses } from './serve.ts';
export type { BootRequestLog, DhcpRequestLog } from '../boot/index.ts';
export type { BootTestRequest, BootTestOutcome, BootMilestone } from './boot-test.ts';
/** The boot test's milestone formatter (loads the boottest domain). */
export const loadMilestoneFormat = async () => (await import('../boottest/index.ts')).formatMilestone;
