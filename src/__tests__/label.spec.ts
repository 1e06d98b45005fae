/**
 * The status bar's labels, checked against the cases the kernel picker's names are
 * checked against too (tests/test_picker.py), so both say the same.
 */
import type { IPlan, ISlurmJob } from '../api';
import { chosenBy, environmentLabel, planLabel, queuedJob, queuedLabel, where } from '../label';
import labels from '../../tests/labels.json';

interface ICase {
  plan: Partial<IPlan>;
  label: string | null;
  warning: boolean;
}

function plan(partial: Partial<IPlan>): IPlan {
  return { schema: 1, reason: '', problems: [], ...partial } as IPlan;
}

describe('the status bar label', () => {
  const cases = [...labels.cases, ...labels.status_bar_only] as ICase[];

  it.each(cases.map(c => [c.label ?? 'nothing (not a Python kernel)', c]))('reads %s', (_, c) => {
    const { plan: partial, label, warning } = c as ICase;
    const shown = planLabel(plan(partial));
    expect(shown).toEqual(label === null ? null : { text: label, warning });
  });

  it('names an environment outside the root by its kind and directory', () => {
    const outside = plan({
      mode: 'environment',
      environment: '/opt/conda/envs/climate/',
      kind: 'conda'
    });
    expect(where(outside)).toBe('conda: climate');
  });

  it('warns for a mode it does not know only when there is a problem', () => {
    const unknown = plan({
      mode: 'creating',
      environment: '/p/.venv',
      relative: '.venv',
      python_version: '3.13.0'
    });
    expect(planLabel(unknown)).toEqual({ text: '.venv · Python 3.13', warning: false });
  });

  it('keeps only the major and minor version of Python', () => {
    expect(environmentLabel('a/.venv', '3.10.14+')).toBe('a/.venv · Python 3.10');
  });
});

function job(partial: Partial<ISlurmJob>): ISlurmJob {
  return {
    kernel_id: 'k1',
    job_id: '4242',
    state: 'PENDING',
    reason: 'Resources',
    text: 'queued in partition gpu: Resources (the partition has no free resources (CPUs, memory or nodes) for it yet)',
    partition: 'gpu',
    path: 'survey/report.ipynb',
    ...partial
  };
}

describe('the status bar while a kernel waits as a Slurm job', () => {
  it("says squeue's reason in words", () => {
    expect(queuedLabel(job({}))).toEqual({
      text: 'queued on Slurm: Resources (the partition has no free resources (CPUs, memory or nodes) for it yet)',
      warning: false
    });
  });

  it('says a job the scheduler has not looked at yet was just submitted', () => {
    const fresh = job({ reason: 'None', text: 'queued in partition gpu: None (it was just submitted)' });
    expect(queuedLabel(fresh).text).toBe('queued on Slurm: it was just submitted');
  });

  it("falls back to squeue's reason", () => {
    expect(queuedLabel(job({ text: '', reason: 'Priority' })).text).toBe(
      'queued on Slurm: Priority'
    );
  });

  it("finds the notebook's job by its path, or by its kernel once there is one", () => {
    const others = job({ kernel_id: 'k2', job_id: '1', path: 'other/report.ipynb' });
    const running = job({ kernel_id: 'k3', job_id: '2', state: 'RUNNING' });
    const mine = job({});
    expect(queuedJob([others, running, mine], 'survey/report.ipynb')).toBe(mine);
    expect(queuedJob([others, running], 'survey/report.ipynb')).toBeNull();
    expect(queuedJob([others, mine], 'elsewhere.ipynb', 'k1')).toBe(mine);
    expect(queuedJob([others, mine], 'survey/report.ipynb', 'k9')).toBeNull();
    expect(queuedJob([job({ state: 'RUNNING' })], 'survey/report.ipynb')).toBeNull();
  });
});

describe('who chose the environment', () => {
  const chosen = {
    level: 'project',
    file: '/home/ada/survey/pyproject.toml',
    relative: 'survey/pyproject.toml',
    line: 5,
    key: 'environment',
    value: 'envs/alt',
    error: null
  };

  it('is the project file and its line, in the details', () => {
    const named = plan({ mode: 'environment', chosen_by: chosen });
    expect(chosenBy(named)).toBe('survey/pyproject.toml, line 5');
  });

  it('is the notebook itself when its metadata names it', () => {
    const named = plan({ chosen_by: { ...chosen, level: 'notebook', line: 40 } });
    expect(chosenBy(named)).toBe('this notebook (its metadata, line 40)');
  });

  it('is nobody when discovery found it', () => {
    expect(chosenBy(plan({ mode: 'environment' }))).toBeNull();
  });
});
