/** Check: whether an image can boot the node models it claims, by pure rules over its file tree. */
export { checkImage, checkTree, makeReport, RULES, type CheckReport, type CheckOptions } from './check.ts';
export { formatCheckReport, formatCheckSummary, formatFinding } from './format.ts';
export type { ContentSource } from './gather.ts';
export type { Finding, Status, Rule, CheckInput, Need } from './types.ts';
export { NODE_MODELS, MAX_SERVER_VERSION, DEFAULT_SERVER_VERSION, labelModels } from './models.ts';
export { gatePublish, type GateOptions } from './gate.ts';
