import os from 'node:os';
import path from 'node:path';
import type { PluginContext } from '@ardea/core/plugin';
import { Toleration } from 'kubernetes-models/v1/Toleration';
import { Volume } from 'kubernetes-models/v1/Volume';
import { VolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { z } from 'zod';

/** A DNS-1123 label: namespaces, Secret references. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: ServiceAccount names. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters. */
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** What Kubernetes accepts as an environment variable name (C identifiers are the portable subset). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Label keys the plugin sets itself and finds its objects by; a user label may not override them. */
export const RESERVED_LABEL_KEYS = ['app.kubernetes.io/name', 'app.kubernetes.io/managed-by'];
const RESERVED_LABEL_PREFIX = 'ardea.io/';

/**
 * An object passed through to the pod spec as written, checked against the Kubernetes schema of
 * its kind (kubernetes-models) when the config is read, so a typo fails before anything is sent.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each model's constructor takes its own shape
function kubernetesObject(model: new (data: any) => { validate(): void }, kind: string) {
  return z.record(z.string(), z.unknown()).superRefine((value, context) => {
    try {
      new model(value).validate();
    } catch (error) {
      const issues = (error as { errors?: Array<{ instancePath?: string; message?: string }> }).errors;
      if (!Array.isArray(issues)) throw error;
      for (const issue of issues) {
        context.addIssue({
          code: 'custom',
          path: (issue.instancePath ?? '').split('/').filter(Boolean),
          message: `not a valid Kubernetes ${kind}: ${issue.message ?? 'invalid'}`,
        });
      }
    }
  });
}

const labelsSchema = z
  .record(
    z.string().regex(QUALIFIED_NAME, 'a Kubernetes label key such as team or example.com/team'),
    z
      .string()
      .regex(LABEL_VALUE, 'a Kubernetes label value: up to 63 letters, digits, -, _ or ., starting and ending with a letter or digit'),
  )
  .refine((labels) => !Object.keys(labels).some((key) => RESERVED_LABEL_KEYS.includes(key) || key.startsWith(RESERVED_LABEL_PREFIX)), {
    message:
      `labels may not set ${RESERVED_LABEL_KEYS.join(', ')} or ${RESERVED_LABEL_PREFIX}*: ` +
      'the plugin sets them and finds its objects by them',
  });

export const kubernetesSchedulerConfigSchema = z
  .object({
    /** The namespace every object of every topology goes to; it must exist. */
    namespace: z.string().regex(DNS_LABEL, 'a Kubernetes namespace name (a DNS label)').default('default'),
    /** A kubeconfig file; relative paths are taken from the cluster directory. Default: $KUBECONFIG, then ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    /** A context of the kubeconfig; default its current-context. */
    context: z.string().min(1).optional(),
    /** The pods' ServiceAccount: container 0's health manager calls the API with its token. */
    serviceAccountName: z.string().regex(DNS_SUBDOMAIN, 'a ServiceAccount name (a DNS subdomain)').default('ardea'),
    /** The image of every container; it must have the executor command (`executorCommand`) on its PATH. */
    image: z.string().min(1).default('ardea/ardea:0.1.0'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    /** Names of Secrets (of type kubernetes.io/dockerconfigjson) in `namespace` to pull the image with. */
    imagePullSecrets: z.array(z.string().regex(DNS_SUBDOMAIN, 'a Secret name')).default([]),
    nodeSelector: z
      .record(z.string().regex(QUALIFIED_NAME, 'a node label key'), z.string().regex(LABEL_VALUE, 'a node label value'))
      .default({}),
    tolerations: z.array(kubernetesObject(Toleration, 'toleration')).default([]),
    /** Extra environment of every container, in the pod spec (keep secrets out of it). */
    env: z.array(z.object({ name: z.string().regex(ENV_NAME, 'an environment variable name'), value: z.string() }).strict()).default([]),
    volumes: z.array(kubernetesObject(Volume, 'volume')).default([]),
    /** Mounts of `volumes` in every container. */
    volumeMounts: z.array(kubernetesObject(VolumeMount, 'volumeMount')).default([]),
    /** Added to every object and pod of a topology. */
    labels: labelsSchema.default({}),
    /** Added to every object and pod of a topology. */
    annotations: z.record(z.string().regex(QUALIFIED_NAME, 'an annotation key'), z.string()).default({}),
    terminationGracePeriodSeconds: z.number().int().min(0).default(30),
    /**
     * `EQUAL_TO_LIMIT`: requests = limits; `NOT_SET`: only limits are written (Kubernetes then
     * defaults requests to them, unless a LimitRange says otherwise).
     */
    resourceRequestMode: z.enum(['EQUAL_TO_LIMIT', 'NOT_SET']).default('EQUAL_TO_LIMIT'),
    /** Resources of container 0 (topology master, health manager), which the packing plan does not size. */
    container0: z
      .object({ cpus: z.number().positive().default(1), memoryMb: z.number().int().positive().default(1024) })
      .strict()
      .default({ cpus: 1, memoryMb: 1024 }),
    /** How long schedule and update wait for new pods to be placed on a node. */
    submitTimeoutMs: z.number().int().positive().default(120_000),
    /** How long kill, update (removing containers) and a failed schedule wait for pods to be gone. */
    killTimeoutMs: z.number().int().positive().default(120_000),
  })
  .strict()
  .superRefine((config, context) => {
    const volumes = new Set(config.volumes.map((volume) => volume.name));
    config.volumeMounts.forEach((mount, index) => {
      if (!volumes.has(mount.name as string)) {
        context.addIssue({
          code: 'custom',
          path: ['volumeMounts', index, 'name'],
          message: `mounts volume '${String(mount.name)}', which is not in volumes (${[...volumes].join(', ') || 'none'})`,
        });
      }
    });
    const names = config.env.map((variable) => variable.name);
    const twice = names.find((name, index) => names.indexOf(name) !== index);
    if (twice) context.addIssue({ code: 'custom', path: ['env'], message: `sets ${twice} twice` });
    if (names.includes('ARDEA_CONTAINER_ID')) {
      context.addIssue({
        code: 'custom',
        path: ['env'],
        message: 'may not set ARDEA_CONTAINER_ID: the plugin sets it from the pod ordinal',
      });
    }
  });

export type KubernetesSchedulerConfig = z.output<typeof kubernetesSchedulerConfigSchema>;

/** A path on this machine: `~/` is the home directory, relative paths start at `baseDirectory`. */
export function localPath(value: string, baseDirectory: string): string {
  if (value === '~' || value.startsWith('~/')) return path.join(os.homedir(), value.slice(1));
  return path.resolve(baseDirectory, value);
}

/** Relative paths in a cluster's config are taken from its directory; the built-in cluster has none. */
export function baseDirectory(context: PluginContext): string {
  return context.clusterDirectory ?? context.home;
}
