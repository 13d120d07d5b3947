/** Ports of an allocation's networks: reserved ones as asked, dynamic ones from the node's range. */
import type { GroupSpec } from './job.js';

export interface AllocatedPort {
  readonly label: string;
  readonly value: number;
  readonly to: number;
  readonly reserved: boolean;
  /** The task whose (deprecated) task-level network asked for it; undefined for group networks. */
  readonly task: string | undefined;
}

interface PortRequest {
  readonly label: string;
  readonly value: number;
  readonly to: number;
  readonly reserved: boolean;
  readonly task: string | undefined;
}

export const MIN_DYNAMIC_PORT = 20000;
export const MAX_DYNAMIC_PORT = 32000;

function requestsOf(networks: unknown, task: string | undefined): PortRequest[] {
  if (!Array.isArray(networks)) return [];
  const out: PortRequest[] = [];
  for (const network of networks) {
    if (network === null || typeof network !== 'object') continue;
    const n = network as Record<string, unknown>;
    for (const [field, reserved] of [
      ['ReservedPorts', true],
      ['DynamicPorts', false],
    ] as const) {
      const ports = n[field];
      if (!Array.isArray(ports)) continue;
      for (const port of ports) {
        if (port === null || typeof port !== 'object') continue;
        const p = port as Record<string, unknown>;
        if (typeof p.Label !== 'string' || p.Label === '') continue;
        out.push({
          label: p.Label,
          value: typeof p.Value === 'number' ? p.Value : 0,
          to: typeof p.To === 'number' ? p.To : 0,
          reserved,
          task,
        });
      }
    }
  }
  return out;
}

/** Every port the group asks for, group networks first, then each task's `Resources.Networks`. */
export function portRequests(group: GroupSpec): PortRequest[] {
  const requests = requestsOf(group.Networks, undefined);
  for (const task of group.Tasks) requests.push(...requestsOf(task.Resources.Networks, task.Name));
  return requests;
}

/** The reserved port of `group` that one of `inUse` already holds, as Nomad's collision text names it. */
export function reservedCollision(group: GroupSpec, inUse: ReadonlySet<number>): string | undefined {
  for (const request of portRequests(group))
    if (request.reserved && inUse.has(request.value)) return `network: reserved port collision ${request.label}=${request.value}`;
  return undefined;
}

/**
 * Picks ports for a placement. Like Nomad, it does not probe the host: it only avoids ports its own allocations
 * hold. `cursor` carries the next dynamic port to try so that consecutive placements spread over the range.
 */
export function assignPorts(group: GroupSpec, inUse: Set<number>, cursor: { next: number }): AllocatedPort[] {
  const assigned: AllocatedPort[] = [];
  for (const request of portRequests(group)) {
    let value = request.value;
    if (!request.reserved) {
      const span = MAX_DYNAMIC_PORT - MIN_DYNAMIC_PORT + 1;
      for (let tries = 0; tries < span; tries++) {
        const candidate = cursor.next;
        cursor.next = candidate >= MAX_DYNAMIC_PORT ? MIN_DYNAMIC_PORT : candidate + 1;
        if (!inUse.has(candidate)) {
          value = candidate;
          break;
        }
      }
    }
    inUse.add(value);
    assigned.push({ label: request.label, value, to: request.to, reserved: request.reserved, task: request.task });
  }
  return assigned;
}

/** NOMAD_PORT_x and friends for one task: the group's ports and the task's own. */
export function portEnvironment(ports: readonly AllocatedPort[], task: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const port of ports) {
    if (port.task !== undefined && port.task !== task) continue;
    // Nomad exports labels as written; a label with `-` is also given with `_` so that shells can read it.
    for (const label of new Set([port.label, port.label.replace(/[^A-Za-z0-9_]/gu, '_')])) {
      const inner = port.to > 0 ? port.to : port.value;
      env[`NOMAD_PORT_${label}`] = String(inner);
      env[`NOMAD_HOST_PORT_${label}`] = String(port.value);
      env[`NOMAD_IP_${label}`] = '127.0.0.1';
      env[`NOMAD_HOST_IP_${label}`] = '127.0.0.1';
      env[`NOMAD_ADDR_${label}`] = `127.0.0.1:${port.value}`;
      env[`NOMAD_HOST_ADDR_${label}`] = `127.0.0.1:${port.value}`;
    }
  }
  return env;
}
