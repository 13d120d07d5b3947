import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectSource } from './env.js';
import { ContainerConfigError } from './errors.js';
import { podFieldValue, resourceFieldValue, type PodPlacement } from './pod-fields.js';

/** What volumes need beyond Secrets and ConfigMaps: service-account tokens from the TokenRequest API. */
export interface VolumeSource extends ObjectSource {
  /** A token for the pod's service account, bound to the pod (it stops working when the pod is deleted). */
  serviceAccountToken(pod: V1Pod, request: { audience?: string; expirationSeconds: number }): Promise<{ token: string; expiresAt: Date }>;
}

/** One bind mount into a container's mount namespace. */
export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_TOKEN_SECONDS = 3600;
/** The kubelet refreshes a token that is 80% through its life, or a day old, whichever comes first. */
const TOKEN_REFRESH_FRACTION = 0.8;
const TOKEN_MAX_AGE_MS = 24 * 3600 * 1000;
export const SUPPORTED_VOLUME_TYPES = ['emptyDir', 'hostPath', 'secret', 'configMap', 'downwardAPI', 'projected'];

interface TokenFile {
  readonly directory: string;
  readonly file: string;
  readonly mode: number;
  readonly audience?: string;
  readonly expirationSeconds: number;
}

/** Writes a file so that a reader sees the old content or the new one, never a half-written file. */
async function writeAtomically(directory: string, relative: string, data: Buffer | string, mode: number): Promise<void> {
  const target = path.resolve(directory, relative);
  if (!target.startsWith(path.resolve(directory) + path.sep)) {
    throw new ContainerConfigError('CreateContainerConfigError', `volume file path '${relative}' leaves its volume directory`);
  }
  await mkdir(path.dirname(target), { recursive: true });
  const temporary = `${target}.ardea-tmp`;
  await writeFile(temporary, data, { mode });
  await chmod(temporary, mode);
  await rename(temporary, target);
}

/**
 * The volumes of one pod, materialized under `<pod dir>/volumes/<name>` (emptyDir, secret, configMap,
 * downwardAPI, projected) or taken from the host (hostPath). Set-up failures are
 * {@link ContainerConfigError}s the pod worker shows as waiting reasons and retries.
 */
export class PodVolumes {
  private readonly tokens: TokenFile[] = [];
  private readonly paths = new Map<string, string>();

  constructor(
    private readonly pod: V1Pod,
    private readonly podDirectory: string,
    private readonly placement: PodPlacement,
    private readonly source: VolumeSource,
  ) {}

  /** Creates every volume; returns when the next service-account token needs refreshing (epoch ms), if any. */
  async setUp(): Promise<number | undefined> {
    this.tokens.length = 0;
    for (const volume of this.pod.spec?.volumes ?? []) {
      try {
        this.paths.set(volume.name, await this.setUpVolume(volume));
      } catch (error) {
        // A volume the agent cannot handle at all is a config error; one whose content is missing yet may appear.
        if (error instanceof ContainerConfigError && error.reason === 'CreateContainerConfigError') throw error;
        const detail = error instanceof Error ? error.message : String(error);
        throw new ContainerConfigError('ContainerCreating', `MountVolume.SetUp failed for volume "${volume.name}": ${detail}`, {
          cause: error,
        });
      }
    }
    return this.refreshTokens();
  }

  /** Requests fresh tokens for every serviceAccountToken projection; returns when to refresh next. */
  async refreshTokens(): Promise<number | undefined> {
    let next: number | undefined;
    for (const token of this.tokens) {
      const issued = Date.now();
      const { token: value, expiresAt } = await this.source.serviceAccountToken(this.pod, {
        ...(token.audience ? { audience: token.audience } : {}),
        expirationSeconds: token.expirationSeconds,
      });
      await writeAtomically(token.directory, token.file, value, token.mode);
      const refreshAt = issued + Math.min((expiresAt.getTime() - issued) * TOKEN_REFRESH_FRACTION, TOKEN_MAX_AGE_MS);
      next = next === undefined ? refreshAt : Math.min(next, refreshAt);
    }
    return next;
  }

  /** The bind mounts of one container, parents before children. */
  mountsOf(container: V1Container): Mount[] {
    const mounts = (container.volumeMounts ?? []).map((mount) => {
      const root = this.paths.get(mount.name);
      if (root === undefined) {
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `volumeMount '${mount.mountPath}' names volume '${mount.name}', which was not set up`,
        );
      }
      if (mount.subPathExpr) {
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `volumeMount '${mount.mountPath}': subPathExpr is not supported by the ardea node agent`,
        );
      }
      const source = mount.subPath ? path.resolve(root, mount.subPath) : root;
      if (mount.subPath && !source.startsWith(path.resolve(root) + path.sep)) {
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `volumeMount '${mount.mountPath}': subPath '${mount.subPath}' leaves its volume`,
        );
      }
      return { source, target: mount.mountPath, readOnly: mount.readOnly === true };
    });
    return mounts.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  }

  private async setUpVolume(volume: V1Volume): Promise<string> {
    if (volume.hostPath) {
      const type = volume.hostPath.type ?? '';
      if (type === 'DirectoryOrCreate') await mkdir(volume.hostPath.path, { recursive: true });
      if (type === 'FileOrCreate') {
        await mkdir(path.dirname(volume.hostPath.path), { recursive: true });
        await writeFile(volume.hostPath.path, '', { flag: 'a' });
      }
      return volume.hostPath.path;
    }
    const directory = path.join(this.podDirectory, 'volumes', volume.name);
    await mkdir(directory, { recursive: true });
    if (volume.emptyDir) return directory;
    if (volume.secret) {
      const { secretName, items, defaultMode, optional } = volume.secret;
      await this.writeObject(directory, 'Secret', secretName ?? '', items, defaultMode, optional);
    } else if (volume.configMap) {
      const { name, items, defaultMode, optional } = volume.configMap;
      await this.writeObject(directory, 'ConfigMap', name ?? '', items, defaultMode, optional);
    } else if (volume.downwardAPI) {
      await this.writeDownward(directory, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode);
    } else if (volume.projected) {
      const defaultMode = volume.projected.defaultMode;
      for (const projection of volume.projected.sources ?? []) {
        if (projection.secret) {
          const { name, items, optional } = projection.secret;
          await this.writeObject(directory, 'Secret', name ?? '', items, defaultMode, optional);
        } else if (projection.configMap) {
          const { name, items, optional } = projection.configMap;
          await this.writeObject(directory, 'ConfigMap', name ?? '', items, defaultMode, optional);
        } else if (projection.downwardAPI) {
          await this.writeDownward(directory, projection.downwardAPI.items ?? [], defaultMode);
        } else if (projection.serviceAccountToken) {
          const token = projection.serviceAccountToken;
          this.tokens.push({
            directory,
            file: token.path,
            mode: defaultMode ?? DEFAULT_FILE_MODE,
            ...(token.audience ? { audience: token.audience } : {}),
            expirationSeconds: token.expirationSeconds ?? DEFAULT_TOKEN_SECONDS,
          });
        } else {
          throw new ContainerConfigError(
            'CreateContainerConfigError',
            `volume "${volume.name}" projects a source the ardea node agent does not support ` +
              '(supported: secret, configMap, downwardAPI, serviceAccountToken)',
          );
        }
      }
    } else {
      // Objects from a list carry every field, most of them undefined.
      const type = Object.entries(volume).find(([key, value]) => key !== 'name' && value !== undefined && value !== null)?.[0] ?? 'unknown';
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `volume "${volume.name}" is of type ${type}, which the ardea node agent does not support ` +
          `(supported: ${SUPPORTED_VOLUME_TYPES.join(', ')})`,
      );
    }
    return directory;
  }

  /** A Secret's or ConfigMap's keys as files (all of them, or the listed items); missing and optional writes nothing. */
  private async writeObject(
    directory: string,
    kind: 'Secret' | 'ConfigMap',
    name: string,
    items: V1KeyToPath[] | undefined,
    defaultMode: number | undefined,
    optional: boolean | undefined,
  ): Promise<void> {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const data = kind === 'Secret' ? await this.source.secret(namespace, name) : await this.source.configMap(namespace, name);
    if (data === undefined && !optional) {
      throw new ContainerConfigError('ContainerCreating', `${kind === 'Secret' ? 'secret' : 'configmap'} "${name}" not found`);
    }
    await this.writeKeys(directory, data ?? new Map(), items, defaultMode, optional, `${kind} ${namespace}/${name}`);
  }

  private async writeKeys(
    directory: string,
    data: ReadonlyMap<string, Buffer>,
    items: V1KeyToPath[] | undefined,
    defaultMode: number | undefined,
    optional: boolean | undefined,
    what: string,
  ): Promise<void> {
    const mode = defaultMode ?? DEFAULT_FILE_MODE;
    if (!items || items.length === 0) {
      for (const [key, value] of data) await writeAtomically(directory, key, value, mode);
      return;
    }
    for (const item of items) {
      const value = data.get(item.key);
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError('ContainerCreating', `configured to use key ${item.key} of ${what}, which it does not have`);
      }
      await writeAtomically(directory, item.path, value, item.mode ?? mode);
    }
  }

  private async writeDownward(
    directory: string,
    items: {
      path: string;
      fieldRef?: { fieldPath: string };
      resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
      mode?: number;
    }[],
    defaultMode: number | undefined,
  ): Promise<void> {
    for (const item of items) {
      let value = '';
      if (item.fieldRef) value = podFieldValue(this.pod, item.fieldRef.fieldPath, this.placement);
      else if (item.resourceFieldRef) {
        const container =
          this.pod.spec?.containers.find((c) => c.name === item.resourceFieldRef?.containerName) ?? this.pod.spec?.containers[0];
        if (container) value = resourceFieldValue(this.pod, container, item.resourceFieldRef, this.placement);
      }
      await writeAtomically(directory, item.path, value, item.mode ?? defaultMode ?? DEFAULT_FILE_MODE);
    }
  }
}
