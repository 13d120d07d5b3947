/** Environment variable carrying the cluster's `--config-property` overrides as a JSON array. */
export const CONFIG_PROPERTIES_ENV = 'ARDEA_CONFIG_PROPERTIES';
/** When set, the executor exits as soon as this process is gone (its supervisor died); pools that own their executors set it. */
export const PARENT_PID_ENV = 'ARDEA_PARENT_PID';
