import type { InstanceExceptions } from '../model/metrics.js';
import type { Action, Detector, Diagnoser, Diagnosis, Measurement, PolicyContext, Resolver, Symptom } from '../spi/health-policy.js';
import { round } from './detectors.js';
import { type ExceptionReader, FAILURE_METRIC, MeasurementIndex } from './measurements.js';

/** Default share of failed tuples above which an instance counts as failing. */
export const DEFAULT_ERROR_RATE = 0.01;
/** Default failures in one window below which no rate is taken seriously (one stray error among few tuples). */
export const DEFAULT_MIN_ERRORS = 3;

export interface ErrorRateSettings {
  /** An instance failing more than this share of its tuples over the window is failing. */
  readonly errorRate: number;
  /** Failures within the window an instance must have before its rate counts. */
  readonly minErrors: number;
}

export const FAILURE_SYMPTOM = 'error-rate';
export const FAILURE_DIAGNOSIS = 'failing-instance';

/**
 * An instance's failures over the window and the share of its tuples they are. A bolt's tuples are
 * the ones it executed; a tuple that threw under at-least-once is counted as an error and as failed,
 * so failures are the larger of the two, not their sum. A spout's failed count is its failed tuple
 * trees — the downstream's failures or timeouts, not its own — so only its errors count, per tuple
 * emitted. An instance that did nothing but fail has a share of 1.
 */
export function failuresOf(index: MeasurementIndex, component: string, instance: string, spout: boolean) {
  const errors = index.value(component, instance, FAILURE_METRIC.errors);
  const failed = spout ? 0 : index.value(component, instance, FAILURE_METRIC.failed);
  const done = index.value(component, instance, spout ? FAILURE_METRIC.emitted : FAILURE_METRIC.executed);
  const failures = Math.max(errors, failed);
  return { errors, failed, done, failures, share: done > 0 ? Math.min(1, failures / done) : failures > 0 ? 1 : 0 };
}

/** Whether the instance failed more than the allowed share of its tuples in the window. */
export function isFailing(
  index: MeasurementIndex,
  component: string,
  instance: string,
  spout: boolean,
  settings: ErrorRateSettings = { errorRate: DEFAULT_ERROR_RATE, minErrors: DEFAULT_MIN_ERRORS },
): boolean {
  const f = failuresOf(index, component, instance, spout);
  return f.failures >= settings.minErrors && f.share > settings.errorRate;
}

/** Lines of a stack kept in a diagnosis: the message and where it was thrown, not the whole trace. */
const STACK_LINES = 4;

/**
 * The error and the first frames of its stack, as the health log keeps it. The stack's first line
 * names the error's class as well as its message (`TypeError: …`), so it heads the text when there
 * is a stack; without one, the message does.
 */
export function shortException(last: NonNullable<InstanceExceptions['last']>): string {
  const lines = (last.stack ?? '').split('\n').map((line) => line.trim());
  const frames = lines.filter((line) => line.startsWith('at ')).slice(0, STACK_LINES - 1);
  const header = frames.length > 0 && lines[0] && !lines[0].startsWith('at ') ? lines[0] : last.message;
  return [header, ...frames].join('\n');
}

/**
 * Instances that fail more than `errorRate` of their tuples over the window (with at least
 * `minErrors` failures): one symptom per component naming them, with the share, the counts and —
 * when the sensor reads them — the last exception of the instance that failed most recently.
 */
export class ErrorRateDetector implements Detector {
  readonly name = 'error-rate';

  constructor(
    private readonly settings: ErrorRateSettings,
    /** The sensor's last errors; absent where none are known (the simulator), then the symptom names none. */
    private readonly exceptions?: ExceptionReader,
  ) {}

  async detect(measurements: readonly Measurement[], context: PolicyContext): Promise<Symptom[]> {
    const index = new MeasurementIndex(measurements);
    const spouts = new Set(context.topology.components.filter((c) => c.kind === 'spout').map((c) => c.name));
    const last = this.exceptions?.lastExceptions() ?? new Map();
    const symptoms: Symptom[] = [];
    for (const component of index.components()) {
      const spout = spouts.has(component);
      const failing = index.instances(component).filter((i) => isFailing(index, component, i, spout, this.settings));
      if (failing.length === 0) continue;
      const counts = failing.map((i) => failuresOf(index, component, i, spout));
      const failures = counts.reduce((acc, c) => acc + c.failures, 0);
      const done = counts.reduce((acc, c) => acc + c.done, 0);
      const latest = failing
        .flatMap((instance) => {
          const error = last.get(instance);
          return error ? [{ instance, error }] : [];
        })
        .sort((a, b) => b.error.at - a.error.at)[0];
      symptoms.push({
        type: FAILURE_SYMPTOM,
        component,
        instances: failing,
        observedAt: context.now,
        details: {
          errorRate: round(done > 0 ? Math.min(1, failures / done) : 1),
          failures,
          [spout ? 'emitted' : 'executed']: done,
          ...(latest
            ? { lastException: shortException(latest.error), lastExceptionInstance: latest.instance, lastExceptionAt: latest.error.at }
            : {}),
        },
      });
    }
    return symptoms;
  }
}

/**
 * A failing instance is a fault of the code or of its input, not of capacity or of the process:
 * scaling it adds instances that throw the same way, and a restart replays nothing that would now
 * succeed. The diagnosis names the component, its failing instances and the last exception.
 */
export class FailingInstanceDiagnoser implements Diagnoser {
  readonly name = 'failing-instance';

  async diagnose(symptoms: readonly Symptom[]): Promise<Diagnosis[]> {
    return symptoms
      .filter((s) => s.type === FAILURE_SYMPTOM)
      .map((s) => ({ type: FAILURE_DIAGNOSIS, component: s.component, instances: s.instances, symptoms: [s], details: s.details }));
  }
}

/** Reports a failing component in the health log, with its last exception; it changes nothing. */
export class ErrorReportResolver implements Resolver {
  readonly name = 'error-report';
  readonly handles = [FAILURE_DIAGNOSIS];

  async resolve(diagnoses: readonly Diagnosis[]): Promise<Action[]> {
    return diagnoses.map((d) => {
      const share = Number(d.details.errorRate);
      const exception = typeof d.details.lastException === 'string' ? d.details.lastException : undefined;
      // One line in `ardea health`: the message and the frame that threw; the parameters keep the rest.
      const where = exception?.split('\n').slice(0, 2).join(' ');
      return {
        type: 'report',
        component: d.component,
        description:
          `failing instance(s) ${d.instances.join(', ')} of ${d.component}: ${Math.round(share * 1000) / 10} % of ` +
          `their tuples failed in the window (${d.details.failures}); ` +
          (where ? `last exception (${d.details.lastExceptionInstance}): ${where}` : 'no exception reported') +
          '; scaling or restarting would not help, fix the component or its input',
        parameters: {
          instances: [...d.instances],
          errorRate: share,
          failures: d.details.failures,
          ...(exception ? { lastException: exception, lastExceptionInstance: d.details.lastExceptionInstance } : {}),
        },
        predictedEffect: {},
      };
    });
  }
}
