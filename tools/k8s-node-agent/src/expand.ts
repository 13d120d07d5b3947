/**
 * Kubernetes' `$(VAR)` expansion for a container's command, args and env values: `$(NAME)` becomes
 * NAME's value when NAME is defined and stays as written otherwise, `$$` is one literal `$`, and a
 * `$` before anything else (or an unclosed `$(`) is kept literally. `${NAME}` is not expanded: that
 * is the shell's business.
 */
export function expandReferences(text: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let index = 0;
  while (index < text.length) {
    const dollar = text.indexOf('$', index);
    if (dollar < 0 || dollar === text.length - 1) {
      out += text.slice(index);
      break;
    }
    out += text.slice(index, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      index = dollar + 2;
    } else if (next === '(') {
      const close = text.indexOf(')', dollar + 2);
      if (close < 0) {
        out += '$(';
        index = dollar + 2;
      } else {
        const name = text.slice(dollar + 2, close);
        out += lookup(name) ?? `$(${name})`;
        index = close + 1;
      }
    } else {
      out += '$' + next;
      index = dollar + 2;
    }
  }
  return out;
}
