import type { IPlan, ISlurmJob } from './api';

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

/** What the status bar says while a notebook's kernel waits in the Slurm queue. */
export const QUEUED = 'queued on Slurm';

/**
 * The queued job of the notebook at `path` (below the server's root) among the server's
 * kernels' jobs: its kernel's (`kernelId`, once the session has one: a restart), else the
 * one started for its path; null when none of them is its and queued.
 */
export function queuedJob(
  jobs: ISlurmJob[],
  path: string,
  kernelId: string | null = null
): ISlurmJob | null {
  const its = (job: ISlurmJob) => (kernelId ? job.kernel_id === kernelId : job.path === path);
  return jobs.find(job => its(job) && job.state === 'PENDING') ?? null;
}

/**
 * `queued on Slurm: Resources (the partition has no free resources ...)`: squeue's
 * reason in words (the job's `text` says it after the partition).
 */
export function queuedLabel(job: ISlurmJob): ILabel {
  const said = job.text.replace(/^queued in partition [^:]*: /, '') || job.reason || 'waiting';
  // squeue says "None" before the scheduler has looked at the job: only the words then.
  const why = said.replace(/^None \((.*)\)$/, '$1');
  return { text: `${QUEUED}: ${why}`, warning: false };
}

/**
 * Who named the environment, for the details: `survey/pyproject.toml, line 5`, or
 * `this notebook (its metadata, line 40)`; null when discovery found it.
 */
export function chosenBy(plan: IPlan): string | null {
  const chosen = plan.chosen_by;
  if (!chosen) {
    return null;
  }
  const line = chosen.line ? `, line ${chosen.line}` : '';
  if (chosen.level === 'notebook') {
    return `this notebook (its metadata${line})`;
  }
  return `${chosen.relative ?? chosen.file}${line}`;
}
