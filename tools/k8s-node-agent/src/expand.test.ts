import { describe, expect, it } from 'vitest';
import { expandReferences } from './expand.js';

const vars: Record<string, string> = { A: 'apple', B: 'banana', EMPTY: '' };
const expand = (text: string) => expandReferences(text, (name) => vars[name]);

describe('expandReferences (Kubernetes $(VAR) rules)', () => {
  it('replaces defined references and keeps unknown ones as written', () => {
    expect(expand('$(A) and $(B)')).toBe('apple and banana');
    expect(expand('x$(MISSING)y')).toBe('x$(MISSING)y');
    expect(expand('[$(EMPTY)]')).toBe('[]');
  });

  it('turns $$ into one literal $, so $$(A) is not expanded', () => {
    expect(expand('$$(A)')).toBe('$(A)');
    expect(expand('cost: $$5')).toBe('cost: $5');
    expect(expand('$$$(A)')).toBe('$apple');
  });

  it('leaves a lone $, ${A} and an unclosed $( as they are', () => {
    expect(expand('$A ${A} $')).toBe('$A ${A} $');
    expect(expand('$(A')).toBe('$(A');
    expect(expand('$(A)$(')).toBe('apple$(');
  });
});
