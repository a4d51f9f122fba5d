// The PromQL editor: CodeMirror 6 with codemirror-promql, completing from the
// tenant's own API (the client's fetch adds X-Scope-OrgID).
import { EditorView, keymap, placeholder, drawSelection, highlightActiveLine } from '@codemirror/view';
import { EditorState, Prec } from '@codemirror/state';
import { history, defaultKeymap, historyKeymap } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import { apiFetch, onTenant } from './api';

/** promql is shared by every editor of the page, so completions are cached once per tenant. */
const promql = new PromQLExtension();

function configure(): void {
  promql.setComplete({
    remote: {
      url: '/prometheus',
      fetchFn: (input: RequestInfo | URL, init?: RequestInit) => apiFetch(input, init ?? {}),
      cache: { maxAge: 5 * 60 * 1000 },
      httpMethod: 'GET',
      // Errors of completion requests (a tenant not set yet, say) only mean fewer suggestions.
      httpErrorHandler: () => {},
    },
  });
}
configure();
// Another tenant has other metrics: drop the cached completions.
onTenant(configure);

/** EditorOptions are the callbacks of one editor. */
export interface EditorOptions {
  doc: string;
  onExecute?: () => void;
  onChange?: (doc: string) => void;
  placeholder?: string;
}

/** newEditor creates a PromQL editor in parent. */
export function newEditor(parent: HTMLElement, opts: EditorOptions): EditorView {
  const run = () => {
    opts.onExecute?.();
    return true;
  };
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: opts.doc,
      extensions: [
        history(),
        drawSelection(),
        highlightActiveLine(),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        placeholder(opts.placeholder ?? 'Expression (press Shift+Enter or Ctrl+Enter to execute)'),
        Prec.highest(keymap.of([
          { key: 'Shift-Enter', run },
          { key: 'Mod-Enter', run },
          { key: 'Ctrl-Enter', run },
        ])),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
        EditorView.lineWrapping,
        promql.asExtension(),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) opts.onChange?.(u.state.doc.toString());
        }),
      ],
    }),
  });
}

/** setDoc replaces the editor's text. */
export function setDoc(view: EditorView, doc: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
}
