import type { Command } from 'commander';
import { createArdea } from '../../app/ardea.js';
import type { CliIo } from '../cli-io.js';

/** What a positional argument completes to. */
export type ArgumentKind =
  | { readonly type: 'cluster' }
  | { readonly type: 'topology' }
  | { readonly type: 'file' }
  | { readonly type: 'choice'; readonly choices: readonly string[] }
  | { readonly type: 'none' };

export interface CompletedOption {
  /** Every spelling: `-f`, `--follow`. */
  readonly flags: readonly string[];
  /** Whether the next word is the option's value (not for an optional value such as `--watch [s]`). */
  readonly takesValue: boolean;
  /** The value is a path. */
  readonly valueIsPath: boolean;
  readonly description: string;
}

export interface CompletedCommand {
  readonly name: string;
  readonly description: string;
  readonly options: readonly CompletedOption[];
  readonly arguments: readonly ArgumentKind[];
}

/** Arguments are recognised by name, so that a new command that takes `<cluster> <topology>` completes without more code. */
function argumentKind(name: string, choices: readonly string[] | undefined): ArgumentKind {
  if (choices && choices.length > 0) return { type: 'choice', choices };
  if (name === 'cluster') return { type: 'cluster' };
  if (name === 'topology') return { type: 'topology' };
  if (name === 'package' || name === 'scenario') return { type: 'file' };
  return { type: 'none' };
}

/** The commands, options and arguments of the program, as the completion scripts need them; hidden commands left out. */
export function completionSpec(program: Command): CompletedCommand[] {
  const help: CompletedOption = { flags: ['-h', '--help'], takesValue: false, valueIsPath: false, description: 'display help for command' };
  return program.commands
    .filter((command) => !(command as unknown as { _hidden?: boolean })._hidden)
    .map((command) => ({
      name: command.name(),
      description: command.description(),
      options: [
        ...command.options
          .filter((option) => !option.hidden)
          .map((option) => ({
            flags: [option.short, option.long].filter((flag): flag is string => flag !== undefined),
            takesValue: option.required,
            valueIsPath: /file|dir|module/.test(option.long ?? ''),
            description: option.description,
          })),
        help,
      ],
      arguments: command.registeredArguments.map((argument) => argumentKind(argument.name(), argument.argChoices)),
    }));
}

const words = (list: readonly string[]) => list.join(' ');
const kindWord = (kind: ArgumentKind) => (kind.type === 'choice' ? `choice:${kind.choices.join(',')}` : kind.type);

/** A bash completion script: `eval "$(ardea completion bash)"`, or save it under bash-completion's completions directory as `ardea`. */
export function bashCompletion(commands: readonly CompletedCommand[]): string {
  const cases = commands
    .map((c) => {
      const options = c.options.flatMap((o) => o.flags);
      const valued = c.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
      const paths = c.options.filter((o) => o.takesValue && o.valueIsPath).flatMap((o) => o.flags);
      return (
        `    ${c.name}) options='${words(options)}'; valued='${words(valued)}'; ` +
        `paths='${words(paths)}'; arguments='${words(c.arguments.map(kindWord))}' ;;`
      );
    })
    .join('\n');
  return `# bash completion for ardea: eval "$(ardea completion bash)" in ~/.bashrc
_ardea_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  if (( COMP_CWORD == 1 )); then
    COMPREPLY=( $(compgen -W '${words(commands.map((c) => c.name))} --help --version' -- "$cur") )
    return 0
  fi
  local options='' valued='' paths='' arguments=''
  case "\${COMP_WORDS[1]}" in
${cases}
    *) return 0 ;;
  esac
  # The positional words before the cursor: options and the values they take are skipped.
  local -a positional=()
  local i word skip=0
  for (( i = 2; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$word" == -* ]]; then
      [[ " $valued " == *" $word "* ]] && skip=1
      continue
    fi
    positional+=("$word")
  done
  if [[ " $valued " == *" $prev "* ]]; then
    if [[ " $paths " == *" $prev "* ]]; then
      compopt -o filenames 2>/dev/null
      COMPREPLY=( $(compgen -f -- "$cur") )
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$options" -- "$cur") )
    return 0
  fi
  local -a kinds=( $arguments )
  local kind="\${kinds[\${#positional[@]}]}"
  case "$kind" in
    cluster)
      local home="\${ARDEA_HOME:-$HOME/.ardea}" names='local' dir
      for dir in "$home"/clusters/*/; do
        [[ -d "$dir" ]] && dir="\${dir%/}" && names+=" \${dir##*/}"
      done
      COMPREPLY=( $(compgen -W "$names" -- "$cur") )
      # A cluster can also be a path to a cluster directory.
      if [[ "$cur" == */* || "$cur" == .* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY+=( $(compgen -d -- "$cur") )
      fi
      ;;
    topology)
      local run=()
      command -v timeout >/dev/null && run=(timeout "\${ARDEA_COMPLETION_TIMEOUT:-5}")
      COMPREPLY=( $(compgen -W "$("\${run[@]}" "\${COMP_WORDS[0]}" __complete topologies "\${positional[0]}" 2>/dev/null)" -- "$cur") )
      ;;
    file)
      compopt -o filenames 2>/dev/null
      COMPREPLY=( $(compgen -f -- "$cur") )
      ;;
    choice:*)
      local choices="\${kind#choice:}"
      COMPREPLY=( $(compgen -W "\${choices//,/ }" -- "$cur") )
      ;;
  esac
  return 0
}
complete -F _ardea_complete ardea
`;
}

/** Quotes `text` for a single-quoted zsh word. */
const zq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** A zsh completion script: save it as `_ardea` in a directory of $fpath, or `source <(ardea completion zsh)`. */
export function zshCompletion(commands: readonly CompletedCommand[]): string {
  const described = commands.map((c) => `    ${zq(`${c.name}:${c.description.split(/[;(]/)[0]!.trim()}`)}`).join('\n');
  const cases = commands
    .map((c) => {
      const options = c.options.flatMap((o) => o.flags.map((flag) => zq(`${flag}:${o.description}`.replace(/\[|\]/g, ''))));
      const valued = c.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
      const paths = c.options.filter((o) => o.takesValue && o.valueIsPath).flatMap((o) => o.flags);
      return (
        `    ${c.name}) options=(${options.join(' ')}); valued=(${words(valued)}); ` +
        `paths=(${words(paths)}); kinds=(${words(c.arguments.map(kindWord))}) ;;`
      );
    })
    .join('\n');
  return `#compdef ardea
# zsh completion for ardea: save as _ardea in a directory of $fpath (then compinit), or: source <(ardea completion zsh)
_ardea() {
  local -a commands options valued paths kinds positional
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'ardea command' commands
    return
  fi
  case $words[2] in
${cases}
    *) return 1 ;;
  esac
  local i skip=0
  for (( i = 3; i < CURRENT; i++ )); do
    if (( skip )); then skip=0; continue; fi
    if [[ $words[i] == -* ]]; then
      (( $valued[(Ie)$words[i]] )) && skip=1
      continue
    fi
    positional+=($words[i])
  done
  if (( $valued[(Ie)$words[CURRENT-1]] )); then
    (( $paths[(Ie)$words[CURRENT-1]] )) && _files
    return
  fi
  if [[ $PREFIX == -* ]]; then
    _describe -t options 'option' options
    return
  fi
  local kind=$kinds[$(( $#positional + 1 ))]
  case $kind in
    cluster)
      local home=\${ARDEA_HOME:-$HOME/.ardea}
      local -a clusters
      clusters=(local $home/clusters/*(N/:t))
      compadd -a clusters
      [[ $PREFIX == */* || $PREFIX == .* ]] && _directories
      ;;
    topology)
      local -a topologies run
      (( $+commands[timeout] )) && run=(timeout \${ARDEA_COMPLETION_TIMEOUT:-5})
      topologies=(\${(f)"$(_call_program topologies $run $words[1] __complete topologies \${(q)positional[1]} 2>/dev/null)"})
      compadd -a topologies
      ;;
    file) _files ;;
    choice:*) compadd \${(s:,:)\${kind#choice:}} ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ardea "$@"
else
  compdef _ardea ardea
fi
`;
}

export function completionCommand(io: CliIo, program: Command, shell: string): void {
  const spec = completionSpec(program);
  io.stdout.write(shell === 'zsh' ? zshCompletion(spec) : bashCompletion(spec));
}

/**
 * `ardea __complete topologies <cluster>`: the names a completion offers, one a line. Silent on any
 * failure (an unreachable state manager, a broken cluster): a completion prints nothing rather than
 * an error into the user's command line.
 */
export async function completeWordsCommand(io: CliIo, what: string, cluster: string | undefined): Promise<void> {
  if (what !== 'topologies' || cluster === undefined) return;
  try {
    const ardea = await createArdea({ cluster, env: io.env, cwd: io.cwd });
    try {
      const names = await ardea.list();
      io.stdout.write(names.map((name) => `${name}\n`).join(''));
    } finally {
      await ardea.close();
    }
  } catch {
    // Nothing to offer.
  }
}
