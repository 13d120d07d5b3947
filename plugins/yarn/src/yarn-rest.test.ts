import { describe, expect, it } from 'vitest';
import { parseContainerLog } from './yarn-rest.js';

/** A NodeManager's text-format answer, as Hadoop 3.4's `/ws/v1/node/containerlogs` writes it. */
function answer(contents: string, length: number): Buffer {
  return Buffer.from(
    'Container: container_1_0006_01_000003 on localhost:8041\n' +
      'LogAggregationType: LOCAL\n' +
      '===================================================================\n' +
      'LogType:stdout.txt\n' +
      'LogLastModifiedTime:Tue Dec 08 03:19:16 +0000 2026\n' +
      `LogLength:${length}\n` +
      'LogContents:\n' +
      contents +
      'End of LogType:stdout.txt.This log file belongs to a running container (container_1_0006_01_000003) and so may not be complete.\n' +
      '*****\n',
  );
}

describe('a NodeManager log answer', () => {
  it('gives the bytes read and the length of the file', () => {
    expect(parseContainerLog(answer('hello err\n', 31), -10, 'nm')).toEqual({ bytes: Buffer.from('hello err\n'), length: 31 });
    expect(parseContainerLog(answer('hel', 31), 3, 'nm')).toEqual({ bytes: Buffer.from('hel'), length: 31 });
    // Asking for more than there is reads the whole file.
    expect(parseContainerLog(answer('abc\n', 4), -100, 'nm')).toEqual({ bytes: Buffer.from('abc\n'), length: 4 });
  });

  it('counts the bytes by the length, so a log line that looks like the trailer stays in', () => {
    const text = 'End of LogType:stdout.txt\nLogContents:\n';
    expect(parseContainerLog(answer(text, text.length), -1000, 'nm').bytes.toString()).toBe(text);
  });

  it('refuses an answer without the header', () => {
    expect(() => parseContainerLog(Buffer.from('<html>proxy error</html>'), -10, 'http://nm')).toThrow(
      /http:\/\/nm answered without the LogLength/,
    );
  });
});
