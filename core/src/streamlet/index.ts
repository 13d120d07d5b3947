export { KeyedStreamlet, Streamlet, StreamletBuilder, StreamletSink } from './streamlet.js';
export type { Sink, SourceOptions } from './components.js';
export { WindowConfig } from './window.js';
export type { Window, WindowedValue } from './window.js';
