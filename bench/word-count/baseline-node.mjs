// The hand-written word-count baseline of bench/word-count.mjs: one role per process, connected
// over TCP on 127.0.0.1:
//   source --sentences--> split --words--> count
// Same work as the engine's word count, without a framework: the source encodes each sentence as it
// sends it, split decodes each sentence into a string and calls split(' '), count decodes each word
// into a string and counts it in a Map. Batching: every process writes at most once per event-loop
// turn (the source fills one frame per turn, split writes what one turn produced), and respects TCP
// backpressure (write() === false -> wait for 'drain'; split pauses its input meanwhile).
//
// Wire format (hand-written binary codec):
//   frame    u32 bodyLength | u32 tupleCount | body
//   sentence u16 length | latin1 bytes
//   word     u8 length | latin1 bytes
//
// Started by bench/word-count.mjs with fork(): argv = role, [port of the next process], [sentences file].
// Reports {ready, port} over IPC; count answers {type:'sample'} with {count} (words counted so far).
import { readFileSync } from 'node:fs';
import net from 'node:net';

const [role, nextPort, sentencesFile] = process.argv.slice(2);
const HEADER = 8;
const SOURCE_FRAME_BYTES = 64 * 1024;
const MAX_OUT_BYTES = 256 * 1024;

/** Splits a byte stream into frames; a frame inside one chunk is used in place, one spanning chunks is copied once. */
class FrameReader {
  constructor(onFrame) {
    this.onFrame = onFrame; // (buffer, bodyStart, bodyEnd, count)
    this.partial = null; // Buffer holding header + body of a frame spanning chunks
    this.filled = 0;
  }

  push(chunk) {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.partial !== null) {
        if (this.filled < HEADER) {
          const take = Math.min(HEADER - this.filled, n - off);
          chunk.copy(this.partial, this.filled, off, off + take);
          this.filled += take;
          off += take;
          if (this.filled < HEADER) continue;
          const body = this.partial.readUInt32LE(0);
          const grown = Buffer.allocUnsafe(HEADER + body);
          this.partial.copy(grown, 0, 0, HEADER);
          this.partial = grown;
        }
        const need = this.partial.length - this.filled;
        const take = Math.min(need, n - off);
        chunk.copy(this.partial, this.filled, off, off + take);
        this.filled += take;
        off += take;
        if (this.filled === this.partial.length) {
          const frame = this.partial;
          this.partial = null;
          this.onFrame(frame, HEADER, frame.length, frame.readUInt32LE(4));
        }
        continue;
      }
      if (n - off < HEADER) {
        this.partial = Buffer.allocUnsafe(HEADER);
        this.filled = n - off;
        chunk.copy(this.partial, 0, off, n);
        return;
      }
      const body = chunk.readUInt32LE(off);
      if (n - off - HEADER >= body) {
        this.onFrame(chunk, off + HEADER, off + HEADER + body, chunk.readUInt32LE(off + 4));
        off += HEADER + body;
      } else {
        this.partial = Buffer.allocUnsafe(HEADER + body);
        this.filled = n - off;
        chunk.copy(this.partial, 0, off, n);
        return;
      }
    }
  }
}

/** A reusable output batch; `take()` copies it into a fresh Buffer the socket may keep. */
class Batch {
  constructor(size = 512 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.off = HEADER;
    this.count = 0;
  }

  ensure(extra) {
    if (this.off + extra <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + extra));
    this.buf.copy(grown, 0, 0, this.off);
    this.buf = grown;
  }

  take() {
    this.buf.writeUInt32LE(this.off - HEADER, 0);
    this.buf.writeUInt32LE(this.count, 4);
    const out = Buffer.allocUnsafe(this.off);
    this.buf.copy(out, 0, 0, this.off);
    this.off = HEADER;
    this.count = 0;
    return out;
  }
}

/** Short ASCII strings are built in JavaScript: cheaper than a call into Buffer's C++ decoders. */
function shortString(b, p, n) {
  switch (n) {
    case 1:
      return String.fromCharCode(b[p]);
    case 2:
      return String.fromCharCode(b[p], b[p + 1]);
    case 3:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2]);
    case 4:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
    case 5:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3], b[p + 4]);
    case 6:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3], b[p + 4], b[p + 5]);
    case 7:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3], b[p + 4], b[p + 5], b[p + 6]);
    case 8:
      return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3], b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
    default:
      return b.latin1Slice(p, p + n);
  }
}

function listenOnce(onSocket) {
  const server = net.createServer((socket) => {
    server.close();
    socket.setNoDelay(true);
    onSocket(socket);
  });
  server.listen({ host: '127.0.0.1', port: 0 }, () => process.send({ type: 'ready', port: server.address().port }));
}

function connect(port) {
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
  socket.setNoDelay(true);
  return socket;
}

function source() {
  const sentences = JSON.parse(readFileSync(sentencesFile, 'utf8'));
  const out = connect(nextPort);
  let next = 0;
  const batch = new Batch(SOURCE_FRAME_BYTES + 1024);
  const turn = () => {
    while (batch.off < SOURCE_FRAME_BYTES) {
      const sentence = sentences[next];
      next = next + 1 === sentences.length ? 0 : next + 1;
      const length = sentence.length;
      batch.ensure(2 + length);
      batch.buf.writeUInt16LE(length, batch.off);
      batch.buf.latin1Write(sentence, batch.off + 2, length);
      batch.off += 2 + length;
      batch.count++;
    }
    if (out.write(batch.take())) setImmediate(turn);
    else out.once('drain', turn);
  };
  out.once('connect', () => {
    process.send({ type: 'ready' });
    turn();
  });
  out.on('error', () => process.exit(0));
}

function split() {
  const out = connect(nextPort);
  const batch = new Batch();
  let input;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (batch.count === 0) return;
    if (!out.write(batch.take()) && input && !input.isPaused()) {
      input.pause();
      out.once('drain', () => input.resume());
    }
  };
  const reader = new FrameReader((b, start, end, count) => {
    let p = start;
    for (let i = 0; i < count; i++) {
      const length = b[p] | (b[p + 1] << 8);
      const sentence = b.latin1Slice(p + 2, p + 2 + length);
      p += 2 + length;
      for (const word of sentence.split(' ')) {
        const wl = word.length;
        batch.ensure(1 + wl);
        const buf = batch.buf;
        let o = batch.off;
        buf[o++] = wl;
        for (let j = 0; j < wl; j++) buf[o++] = word.charCodeAt(j);
        batch.off = o;
        batch.count++;
      }
    }
    if (p !== end) throw new Error('malformed sentence frame');
    if (batch.off >= MAX_OUT_BYTES) flush();
  });
  out.once('connect', () => {
    listenOnce((socket) => {
      input = socket;
      socket.on('data', (chunk) => {
        reader.push(chunk);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
      socket.on('error', () => undefined);
    });
  });
  out.on('error', () => process.exit(0));
}

function count() {
  const counts = new Map();
  let counted = 0;
  const reader = new FrameReader((b, start, end, n) => {
    let p = start;
    for (let i = 0; i < n; i++) {
      const wl = b[p];
      const word = shortString(b, p + 1, wl);
      p += 1 + wl;
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
    if (p !== end) throw new Error('malformed word frame');
    counted += n;
  });
  listenOnce((socket) => {
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('error', () => undefined);
  });
  process.on('message', (message) => {
    if (message?.type === 'sample') process.send({ type: 'sample', count: counted, distinct: counts.size });
  });
}

process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
if (role === 'source') source();
else if (role === 'split') split();
else if (role === 'count') count();
else throw new Error(`unknown role ${role}`);
