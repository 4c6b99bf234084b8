/**
 * Store test fixtures: the in-memory fake, the broken store that fails on demand, test images
 * built through any Store's own staging, and the contract every Store implementation passes.
 * Only tests import this entry (the architecture test checks it); the store's door, index.ts,
 * leaves it out so that no command loads test code.
 */
export { createFakeStore, type FakeStore, type FakeStoreOptions } from './fake-store.ts';
export { createBrokenStore, type BrokenStoreOptions, type BreakableOperation, type StoreFault } from './broken-store.ts';
export { commitTestImage, stageTestImage, tarOf, type TestImageSpec, type StagedTestImage } from './test-image.ts';
export { runStoreContract, type MakeStore } from './store-contract.ts';
