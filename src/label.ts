import type { IPlan } from './api';

/** Between the parts of a label, as the server's kernel picker writes it. */
export const SEPARATOR = ' · ';

/** What the server's Python is called where no project environment runs. */
export const SERVER_PYTHON = 'server Python';

/** An environment being made (`create_environments`), and one declared but not made. */
export const BEING_MADE = 'being made';
export const NOT_MADE = 'not made';

/**
 * What the status bar shows for a plan.
 */
export interface ILabel {
  text: string;
  /** The environment cannot run: the kernel is the fallback, or the server's Python. */
  warning: boolean;
}

/**
 * `analysis/.venv · Python 3.12`, `old/.venv · Python 3.11 · needs ipykernel`.
 *
 * The same wording as the kernel picker's names (`project_kernels.report.environment_label`);
 * `tests/labels.json` holds the cases both are checked against.
 */
export function environmentLabel(
  where: string,
  pythonVersion: string | null,
  problem: string | null = null
): string {
  const majorMinor = (pythonVersion ?? '').split('.').slice(0, 2).join('.');
  const parts = [where, majorMinor ? `Python ${majorMinor}` : 'Python'];
  if (problem) {
    parts.push(problem);
  }
  return parts.join(SEPARATOR);
}

/**
 * Where the environment is, in a few words: its path below the server's root,
 * else its kind and its directory's name (`poetry: survey-Ne6SaCHT-py3.12`).
 */
export function where(plan: IPlan): string {
  if (plan.relative) {
    return plan.relative;
  }
  if (!plan.environment) {
    return '';
  }
  const name = plan.environment.replace(/\/+$/, '').split('/').pop() || '/';
  return plan.kind ? `${plan.kind}: ${name}` : name;
}

/**
 * Where a declared environment will be: its path below the root, else its kind's
 * environment (poetry's, kept outside the project).
 */
export function declaredWhere(plan: IPlan): string {
  if (plan.relative) {
    return plan.relative;
  }
  return `${plan.declared?.kind ?? plan.kind ?? 'project'} environment`;
}

/**
 * The status bar's text for a plan; null for a kernel project-kernels passed through
 * (not a Python kernel), which has nothing to show.
 */
export function planLabel(plan: IPlan): ILabel | null {
  const problem = plan.problems.length ? plan.problems[0].label : null;
  switch (plan.mode) {
    case 'passthrough':
      return null;
    case 'stock':
      return { text: SERVER_PYTHON, warning: false };
    case 'environment':
      return {
        text: environmentLabel(where(plan), plan.python_version),
        warning: false
      };
    case 'warned':
      // The server's Python runs, the project's environment was passed over.
      return {
        text: [SERVER_PYTHON, where(plan), problem].filter(Boolean).join(SEPARATOR),
        warning: true
      };
    case 'making':
      // The environment is being made; the kernel starts there when it is ready.
      return {
        text: [where(plan) || declaredWhere(plan), BEING_MADE].join(SEPARATOR),
        warning: false
      };
    case 'notice':
      // The project declares an environment nobody made: the server's Python runs.
      return {
        text: [SERVER_PYTHON, declaredWhere(plan), NOT_MADE].join(SEPARATOR),
        warning: true
      };
    case 'fallback':
    case 'error':
      // The explaining kernel runs, or none could start.
      if (!plan.environment && plan.declared) {
        return { text: [declaredWhere(plan), NOT_MADE].join(SEPARATOR), warning: true };
      }
      return {
        text: environmentLabel(where(plan), plan.python_version, problem),
        warning: true
      };
    default:
      // A mode a newer server may add: name the environment, warn if it has a problem.
      return {
        text: plan.environment
          ? environmentLabel(where(plan), plan.python_version, problem)
          : SERVER_PYTHON,
        warning: problem !== null
      };
  }
}
