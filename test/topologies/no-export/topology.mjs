import { TopologyBuilder } from '@ardea/core/api';

// Builds a topology but forgets to export it.
const builder = new TopologyBuilder('no-export');
builder.setSpout('source', () => ({ nextTuple() {} })).outputFields('x');
builder.build();
