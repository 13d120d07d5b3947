// A bolt that throws on every tuple, beside one that never does: what `ardea metrics` (ERRORS) and
// `ardea exceptions` must make visible. The throwing function has a name to find in the stack trace.
import { TopologyBuilder } from '@ardea/core/api';
import { PacedNumbers } from '../support/paced-numbers.mjs';

function explodeOnPurpose(n) {
  throw new Error(`throwing-bolt refuses tuple ${n} on purpose`);
}

class Thrower {
  execute(tuple) {
    explodeOnPurpose(tuple.values[0]);
  }
}

class Quiet {
  execute() {}
}

const builder = new TopologyBuilder('throwing-bolt').containers(1);
builder
  .setSpout('numbers', () => new PacedNumbers())
  .outputFields('n', 'emittedAt')
  .config('rate', 50);
builder.setBolt('thrower', () => new Thrower()).shuffleGrouping('numbers');
builder.setBolt('quiet', () => new Quiet()).shuffleGrouping('numbers');
export default builder.build();
