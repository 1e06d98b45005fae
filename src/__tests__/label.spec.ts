/**
 * The status bar's labels, checked against the cases the kernel picker's names are
 * checked against too (tests/test_picker.py), so both say the same.
 */
import type { IPlan } from '../api';
import { environmentLabel, planLabel, where } from '../label';
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
