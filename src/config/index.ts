/** Config: the settings table, kiln.yaml and environment overrides. */
export { SETTINGS, type Setting, type SettingKey } from './settings.ts';
export { loadConfig, parseConfigFile, type Config } from './load.ts';
