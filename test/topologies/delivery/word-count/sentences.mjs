// The finite, deterministic source of the stateful word count: sentence i is a pure function of i, so
// the test knows every word's exact total from the number of sentences alone (expectedCounts).
// Bundled into the topology; the test imports it too.

export const WORDS_PER_SENTENCE = 10;
const VOCABULARY_SIZE = 500;
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'ha', 'po', 'gu', 'de', 'fi', 'ja', 'wu'];

const VOCABULARY = Array.from({ length: VOCABULARY_SIZE }, (_, i) => {
  let word = '';
  for (let n = i + 1; n > 0; n = Math.floor(n / SYLLABLES.length)) word += SYLLABLES[n % SYLLABLES.length];
  return word;
});

/** A 32-bit hash of (sentence, position): murmur3's finaliser over both. */
function mix(sentence, position) {
  let h = Math.imul(sentence ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(position + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Word `position` of sentence `index`. Skewed (the square of a uniform draw): some words are hot and
 * others rare, so a lost or doubled update shows in one word's count whatever its frequency.
 */
function wordAt(index, position) {
  const u = mix(index, position) / 0x100000000;
  return VOCABULARY[Math.floor(u * u * VOCABULARY_SIZE)];
}

export function sentenceOf(index) {
  const words = [];
  for (let position = 0; position < WORDS_PER_SENTENCE; position++) words.push(wordAt(index, position));
  return words.join(' ');
}

/** How often each word occurs in sentences 0..sentences-1. */
export function expectedCounts(sentences) {
  const counts = new Map();
  for (let index = 0; index < sentences; index++) {
    for (let position = 0; position < WORDS_PER_SENTENCE; position++) {
      const word = wordAt(index, position);
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}
