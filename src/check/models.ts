/** The node-image vocabulary lives with the store's image metadata; check uses it as is. */
export { NODE_MODELS, OCI_ARCHITECTURES, MAX_SERVER_VERSION, DEFAULT_SERVER_VERSION, LABELS, labelModels } from '../store/index.ts';
