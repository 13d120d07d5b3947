import { TopologyBuilder } from '@ardea/core/api';

const builder = new TopologyBuilder('unknown-stream');
builder.setSpout('source', () => ({ nextTuple() {} })).outputFields('x');
builder.setBolt('sink', () => ({ execute() {} })).shuffleGrouping('source', 'alerts');
export default builder.build();
