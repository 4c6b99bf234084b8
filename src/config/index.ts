/** Config: the settings table, kiln.yaml and environment overrides. */
export { SETTINGS, networkIdleTimeoutMs, type Setting, type SettingKey } from './settings.ts';
export { loadConfig, parseConfigFile, type Config, type ConfigFile } from './load.ts';
export { parseSize, tarLimitsOf } from './limits.ts';
export {
  REGISTRY_APIS, REGISTRY_PROTOCOLS, REGISTRY_AUTHS, RESERVED_LABELS, DOCKER_HUB_HOST, defaultRegistries,
  type RegistryConfig,
} from './registries.ts';
export { SERVER_DEFAULTS, type ServerConfig } from './server.ts';
