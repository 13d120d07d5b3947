import { TopologyBuilder } from '@ardea/core/api';

const builder = new TopologyBuilder('cycle');
builder.setSpout('source', () => ({ nextTuple() {} })).outputFields('x');
builder
  .setBolt('a', () => ({ execute() {} }))
  .shuffleGrouping('source')
  .shuffleGrouping('b')
  .outputFields('x');
builder
  .setBolt('b', () => ({ execute() {} }))
  .shuffleGrouping('a')
  .outputFields('x');
export default builder.build();
