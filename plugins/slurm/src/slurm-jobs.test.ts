import { describe, expect, it } from 'vitest';
import {
  containerState,
  isLive,
  jobName,
  jobNameStem,
  newestJobs,
  oneLine,
  parseSbatch,
  parseScontrolJobs,
  parseSqueue,
} from './slurm-jobs.js';

describe('reading Slurm output', () => {
  it("picks exactly the topology's jobs out of squeue by name", () => {
    const output = [
      '12|ardea-word-count-0|RUNNING|localhost',
      '13|ardea-word-count-1|PENDING|(Resources)',
      '14|ardea-word-count-x|RUNNING|localhost',
      '15|ardea-word-count-2-1|RUNNING|localhost',
      '16|ardea-word-1|RUNNING|localhost',
      '17|other-word-count-1|RUNNING|localhost',
      '18_2|ardea-word-count-3|RUNNING|localhost',
      '',
    ].join('\n');
    expect(parseSqueue(output, 'ardea-', 'word-count')).toEqual([
      { jobId: '12', containerId: 0, state: 'RUNNING', reason: 'localhost' },
      { jobId: '13', containerId: 1, state: 'PENDING', reason: 'Resources' },
    ]);
    expect(parseSqueue(output, 'ardea-', 'word')).toEqual([{ jobId: '16', containerId: 1, state: 'RUNNING', reason: 'localhost' }]);
    expect(jobName('ardea-', 'word-count', 3)).toBe('ardea-word-count-3');
  });

  it("names jobs after the topology's pool name, so a name that is not a DNS label gets a stem of its own", () => {
    const stem = jobNameStem('ardea-', 'Word_Count');
    expect(stem).toMatch(/^ardea-word-count-[0-9a-f]{8}$/);
    expect(jobName('ardea-', 'Word_Count', 2)).toBe(`${stem}-2`);
    const output = [`21|${stem}-0|RUNNING|n1`, '22|ardea-word-count-0|RUNNING|n1', ''].join('\n');
    expect(parseSqueue(output, 'ardea-', 'Word_Count').map((job) => job.jobId)).toEqual(['21']);
    expect(parseSqueue(output, 'ardea-', 'word-count').map((job) => job.jobId)).toEqual(['22']);
  });

  it('takes the newest job of a container, since a restart submits a new one', () => {
    const jobs = parseSqueue('9|a-t-1|CANCELLED|None\n11|a-t-1|RUNNING|n1\n10|a-t-2|FAILED|NonZeroExitCode', 'a-', 't');
    expect([...newestJobs(jobs)].map(([id, job]) => [id, job.jobId])).toEqual([
      [1, '11'],
      [2, '10'],
    ]);
    expect(jobs.map(isLive)).toEqual([false, true, false]);
  });

  it('maps Slurm job states to container states', () => {
    expect(
      [
        'PENDING',
        'CONFIGURING',
        'RUNNING',
        'REQUEUED',
        'SUSPENDED',
        'COMPLETING',
        'COMPLETED',
        'CANCELLED',
        'FAILED',
        'TIMEOUT',
        'NODE_FAIL',
        'OUT_OF_MEMORY',
      ].map(containerState),
    ).toEqual([
      'pending',
      'pending',
      'running',
      'restarting',
      'stopped',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
    ]);
  });

  it('reads scontrol one-liners, paths with spaces included', () => {
    const line =
      'JobId=42 JobName=ardea-t-1 UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ' +
      'Requeue=1 Restarts=2 BatchFlag=1 ExitCode=3:0 RunTime=00:00:01 Command=/shared/my ' +
      'work/t/jobs/container-1.sh WorkDir=/shared/my work/t StdOut=/shared/my work/t/logs/container-1.log';
    const job = parseScontrolJobs(`${line}\n`).get('42')!;
    expect(job).toMatchObject({
      JobState: 'FAILED',
      Reason: 'NonZeroExitCode',
      Restarts: '2',
      ExitCode: '3:0',
      WorkDir: '/shared/my work/t',
      StdOut: '/shared/my work/t/logs/container-1.log',
    });
  });

  it('reads the job id sbatch --parsable prints, with or without a cluster name', () => {
    expect(parseSbatch('123\n')).toBe('123');
    expect(parseSbatch('124;hpc\n')).toBe('124');
    expect(parseSbatch('Submitted batch job 5')).toBeUndefined();
    expect(oneLine('sbatch: error: invalid partition specified: x\nsbatch: error: Batch job submission failed\n')).toBe(
      'sbatch: error: invalid partition specified: x; sbatch: error: Batch job submission failed',
    );
  });
});
