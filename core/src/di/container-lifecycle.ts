import type { Container } from 'inversify';
import { CheckpointStorage } from '../spi/checkpoint-storage.js';
import { Scheduler } from '../spi/scheduler.js';
import { StateManager } from '../spi/state-manager.js';
import { Uploader } from '../spi/uploader.js';

/**
 * Has `container` close the services that hold connections, timers or processes — the scheduler,
 * the state manager, the uploader and the checkpoint storage — when it unbinds them, if they were ever created. This is the
 * one way a deployment closes them: {@link closeArdeaContainer} (or `unbindAllAsync`), never a
 * `close()` by hand, and plugins do not register closes of their own.
 */
export function closeServicesOnUnbind(container: Container): void {
  container.onDeactivation<Scheduler>(Scheduler, (scheduler) => scheduler.close());
  container.onDeactivation<StateManager>(StateManager, (state) => state.close());
  container.onDeactivation<Uploader>(Uploader, async (uploader) => {
    await uploader.close?.();
  });
  container.onDeactivation<CheckpointStorage>(CheckpointStorage, async (storage) => {
    await storage.close?.();
  });
}

/**
 * Closes a deployment: unbinds everything, which closes each service that was created (see
 * {@link closeServicesOnUnbind}). A local-pool scheduler that owns containers stops them.
 */
export async function closeArdeaContainer(container: Container): Promise<void> {
  await container.unbindAllAsync();
}
