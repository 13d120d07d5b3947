import { execFileSync } from 'node:child_process';
import { CONTAINER_INDEX_PLACEHOLDER, SchedulerError, shellCommand, shellQuote } from '@ardea/core/plugin';
import { describe, expect, it } from 'vitest';
import { checkJobTemplate, DEFAULT_JOB_TEMPLATE, renderJobTemplate, templateValues, type ContainerJob } from './job-script.js';

const job = (overrides: Partial<ContainerJob> = {}): ContainerJob => ({
  topologyName: 'word-count',
  containerId: 3,
  jobName: 'ardea-word-count-3',
  cpus: 2,
  memoryMb: 1024,
  workDirectory: '/shared/work dir/word-count',
  logFile: '/shared/work dir/word-count/logs/container-3.log',
  executor: {
    argv: ['/usr/bin/node', '/opt/ardea/executor.js', '--container', CONTAINER_INDEX_PLACEHOLDER],
    env: { ARDEA_HOME: "/home/o'brien/.ardea" },
  },
  ...overrides,
});

describe('shell quoting', () => {
  it('leaves plain words alone and keeps everything else literal through a real shell', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    const words = ['', "it's", '$HOME', '`id`', 'a b', '*', '\\', '"', '{{x}}', 'é ✓', '\n'];
    const echoed = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${shellCommand(words)}`]).toString('utf8');
    expect(echoed.split('\0').slice(0, -1)).toEqual(words);
  });
});

describe('job template', () => {
  it('fills the default template with the quoted command and environment', () => {
    const script = renderJobTemplate(DEFAULT_JOB_TEMPLATE, templateValues(job()));
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('\nexec /usr/bin/node /opt/ardea/executor.js --container 3\n');
    expect(script).toContain(`\nexport ARDEA_HOME='/home/o'\\''brien/.ardea'\nexport ARDEA_CONTAINER_ID=3\n`);
    expect(script).toContain('container 3 of topology word-count (2 CPUs, 1024 MB)');
  });

  it('does not expand placeholders inside the values it inserts', () => {
    const script = renderJobTemplate(
      '#!/bin/sh\n{{workDirectory}} {{command}}\n',
      templateValues(job({ workDirectory: '/x/{{command}}' })),
    );
    expect(script).toBe("#!/bin/sh\n'/x/{{command}}' /usr/bin/node /opt/ardea/executor.js --container 3\n");
  });

  it('rejects templates with unknown placeholders or without the command', () => {
    expect(() => checkJobTemplate('#!/bin/sh\nexec {{command}} {{cpu}}\n', 'my.sh')).toThrow(
      /job template my\.sh: unknown placeholder \{\{cpu\}\}; known: \{\{topology\}\}/,
    );
    expect(() => checkJobTemplate('#!/bin/sh\necho {{jobName}}\n', 'my.sh')).toThrow(/never uses \{\{command\}\}/);
    expect(() => checkJobTemplate(DEFAULT_JOB_TEMPLATE, 'default')).not.toThrow();
  });

  it('refuses environment names a shell cannot export', () => {
    expect(() => templateValues(job({ executor: { argv: ['/bin/true'], env: { 'BAD-NAME': 'x' } } }))).toThrow(SchedulerError);
  });
});
