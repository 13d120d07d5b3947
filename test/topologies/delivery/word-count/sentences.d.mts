/** Words in every sentence. */
export declare const WORDS_PER_SENTENCE: number;
/** Sentence `index` of the source: the same text in every run. */
export declare function sentenceOf(index: number): string;
/** How often each word occurs in sentences 0..sentences-1. */
export declare function expectedCounts(sentences: number): Map<string, number>;
