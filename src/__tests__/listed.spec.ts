/**
 * Choosing a notebook's environment: what the dialog offers (the kernel picker's listed
 * environments) and the metadata value that names the chosen one.
 */
import type { KernelSpec } from '@jupyterlab/services';

import { listedEnvironments, notebookKey } from '../listed';

function spec(name: string, displayName: string, environment?: string): KernelSpec.ISpecModel {
  const provisioner = environment
    ? { provisioner_name: 'project-kernels', config: { environment } }
    : { provisioner_name: 'project-kernels', config: {} };
  return {
    name,
    display_name: displayName,
    language: 'python',
    argv: [],
    resources: {},
    metadata: { kernel_provisioner: provisioner }
  } as KernelSpec.ISpecModel;
}

const specs: KernelSpec.ISpecModels = {
  default: 'python3',
  kernelspecs: {
    python3: spec('python3', 'Python 3 (ipykernel)'),
    'project-survey-venv-1a2b3c4d': spec(
      'project-survey-venv-1a2b3c4d',
      'survey/.venv · Python 3.12',
      '/home/ada/work/survey/.venv'
    ),
    'project-alt-0a0a0a0a': spec('project-alt-0a0a0a0a', 'alt · Python 3.11', '/home/ada/work/alt'),
    'project-outside-00000000': spec('project-outside-00000000', 'x', '/home/ada/workshop/.venv'),
    ir: spec('ir', 'R', '/home/ada/work/r')
  }
};

describe('the environments a notebook can be given', () => {
  it('are the listed ones below the root, by their picker names', () => {
    expect(listedEnvironments(specs, '/home/ada/work/')).toEqual([
      { label: 'alt · Python 3.11', path: 'alt' },
      { label: 'survey/.venv · Python 3.12', path: 'survey/.venv' }
    ]);
  });

  it('are none when the listing is off or the root is unknown', () => {
    const unlisted = { default: 'python3', kernelspecs: { python3: specs.kernelspecs.python3 } };
    expect(listedEnvironments(unlisted, '/home/ada/work')).toEqual([]);
    expect(listedEnvironments(specs, '')).toEqual([]);
    expect(listedEnvironments(null, '/home/ada/work')).toEqual([]);
  });
});

describe("the notebook's metadata value", () => {
  it.each([
    ['survey/notebooks/report.ipynb', 'survey/.venv', '../.venv'],
    ['survey/report.ipynb', 'survey/envs/gpu', 'envs/gpu'],
    ['report.ipynb', 'survey/.venv', 'survey/.venv'],
    ['a/b/c.ipynb', 'x/.venv', '../../x/.venv'],
    ['survey/report.ipynb', 'survey', '.']
  ])('for %s naming %s is %s', (notebook, environment, key) => {
    expect(notebookKey(notebook, environment)).toBe(key);
  });
});
