/** Registry: OCI Distribution v2 client, auth file, Docker Hub, Artifactory, Docker daemon; search, clone, publish. */
export { RegistryError, isRetryable, type DistributionError } from './errors.ts';
export { parseChallenges, type Challenge } from './challenge.ts';
export { authFiles, readCredentials, type AuthFiles, type Credentials } from './auth-file.ts';
export { createTransport, registryBaseUrl, type RegistryTransport, type RegistryRequest, type TransportOptions } from './transport.ts';
export { createNodeFetch, type FetchLike } from './node-fetch.ts';
export {
  MANIFEST_ACCEPT, ping, getManifest, headManifest, putManifest, headBlob, getBlob, pushBlob, listCatalog, listTags, nextLink, repositoryName,
  type FetchedManifest, type BlobPush,
} from './distribution.ts';
export { parseCloneUrl, formatCloneUrl, findRegistry, type CloneUrl } from './clone-url.ts';
export { choosePlatform } from './platform.ts';
export { pullImage, type PullOptions, type PullResult } from './pull.ts';
export { pushImage, type PushOptions, type PushResult } from './push.ts';
export { createDockerDaemon, normaliseDaemonName, type DockerDaemon, type DaemonImage } from './docker-daemon.ts';
export { METADATA_REPO, readUserMetadata, updateUserMetadata, findMetadataUsers, type UserMetadata } from './hub.ts';
export { createRegistrySession, credentialKeys, type RegistrySession, type SessionOptions } from './session.ts';
export { searchImages, SUPPORTED_SERVER_VERSION, MINVERSION_LABEL, type SearchHit, type SearchFailure } from './search.ts';
export { cloneImage, type CloneOptions, type CloneResult } from './clone.ts';
export { publishImage, publishTarget, type PublishResult } from './publish.ts';
export { login, logout, loginTarget } from './login.ts';
export { pruneBlobCache } from './blob-cache.ts';
