import { Clipboard } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { IPlan, IProblem } from './api';
import { planLabel } from './label';

/** One line of the panel: a name and what it says. */
export interface IRow {
  name: string;
  value: string;
}

/** A button at the foot of the panel (choosing another environment, say). */
export interface IAction {
  label: string;
  execute: () => void;
}

/** What each mode means for the notebook, in a sentence. */
const MODE_SENTENCES: Record<string, string> = {
  environment: 'The kernel runs in this environment, activated as a shell would.',
  stock:
    "No project environment here: the kernel runs in the server's Python, " +
    'as without project-kernels.',
  fallback:
    'This environment cannot run a kernel, so the notebook has the explaining ' +
    "kernel: it answers every cell with the problem below and still runs '!' " +
    'commands. Fix the problem, then restart the kernel.',
  warned: "This environment cannot run a kernel, so the server's Python runs the notebook instead.",
  error: 'This environment cannot run a kernel: none starts until the problem is fixed.',
  passthrough: 'Not a Python kernel: it launches as it is.'
};

/**
 * The panel's lines for a plan, in order. A new line (what chose the environment,
 * say) is one more entry here.
 */
export function rows(plan: IPlan): IRow[] {
  const found: IRow[] = [];
  const add = (name: string, value: string | null | undefined) => {
    if (value) {
      found.push({ name, value });
    }
  };
  add('Runs', MODE_SENTENCES[plan.mode] ?? plan.mode);
  const server = plan.mode === 'passthrough' ? null : "the server's Python";
  add('Environment', plan.environment ?? server);
  add('Kind', plan.kind);
  const ipykernel = plan.details?.ipykernel_version;
  const python = plan.python_version;
  add('Python', python && ipykernel ? `${python} (ipykernel ${ipykernel})` : python);
  add('Modules', plan.details?.modules?.join(' '));
  add('Why', plan.reason);
  return found;
}

/**
 * The details of a plan: what runs, where, why, each problem with its fix, then `actions`.
 */
export class PlanPanel extends Widget {
  constructor(plan: IPlan, actions: IAction[] = []) {
    super();
    this.addClass('jp-ProjectKernels-panel');
    const label = planLabel(plan);
    if (label) {
      const title = element('div', 'jp-ProjectKernels-panelTitle', label.text);
      title.classList.toggle('jp-ProjectKernels-warning', label.warning);
      this.node.appendChild(title);
    }
    const list = element('dl', 'jp-ProjectKernels-rows');
    for (const row of rows(plan)) {
      list.appendChild(element('dt', '', row.name));
      list.appendChild(element('dd', '', row.value));
    }
    this.node.appendChild(list);
    for (const problem of plan.problems) {
      this.node.appendChild(problemNode(problem));
    }
    if (actions.length) {
      const foot = element('div', 'jp-ProjectKernels-actions');
      for (const action of actions) {
        const button = element('button', 'jp-Button jp-mod-styled', action.label);
        button.addEventListener('click', () => action.execute());
        foot.appendChild(button);
      }
      this.node.appendChild(foot);
    }
  }
}

function problemNode(problem: IProblem): HTMLElement {
  const node = element('div', 'jp-ProjectKernels-problem');
  node.dataset.code = problem.code;
  node.appendChild(element('p', 'jp-ProjectKernels-summary', `Problem: ${problem.summary}`));
  node.appendChild(element('p', 'jp-ProjectKernels-fix', `Fix: ${problem.fix}`));
  const command = problem.command;
  if (command) {
    const button = element('button', 'jp-Button jp-mod-styled jp-mod-accept', 'Copy fix command');
    button.title = command;
    button.addEventListener('click', event => {
      event.stopPropagation();
      Clipboard.copyToSystem(command);
      button.textContent = 'Copied';
    });
    node.appendChild(button);
  }
  return node;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  node.textContent = text;
  return node;
}
