/** Boot test: booting an image in a VM on a private network, and the milestones of its boot. */
export {
  milestonesFor, createMilestoneTracker, cleanConsole, consoleTail, formatMilestone,
  type Milestone, type MilestoneTracker, type Reached, type ServeEvent, type BootMode,
} from './milestones.ts';
export { vmProfileFor, acceleratorFor, randomMac, type VmProfile } from './models.ts';
export { abandonedNetworks, createPrivateNetwork, removeNetwork, NETNS_PREFIX, type PrivateNetwork } from './netns.ts';
export { startVm, kvmUsable, qemuArgs, type RunningVm, type VmOptions } from './vm.ts';
