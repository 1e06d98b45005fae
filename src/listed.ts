import { PathExt } from '@jupyterlab/coreutils';
import type { KernelSpec } from '@jupyterlab/services';

/** The notebook metadata key project-kernels reads: `{"environment": "../envs/gpu"}`. */
export const METADATA_KEY = 'project-kernels';

/** An environment a person may choose for a notebook: one the kernel picker lists. */
export interface IChoosable {
  /** As the kernel picker names it: `analysis/.venv · Python 3.12`. */
  label: string;
  /** Its path below the server's root: `analysis/.venv`. */
  path: string;
}

/**
 * The environments the kernel picker lists (`ProjectKernelSpecManager.list_environments`),
 * from the kernelspecs: each listed one is pinned to its directory. `serverRoot` is the
 * server's root directory; environments outside it are left out. None when the listing
 * is off.
 */
export function listedEnvironments(
  specs: KernelSpec.ISpecModels | null | undefined,
  serverRoot: string
): IChoosable[] {
  const root = serverRoot.replace(/\/+$/, '');
  if (!specs || !root.startsWith('/')) {
    return [];
  }
  const found: IChoosable[] = [];
  for (const [name, spec] of Object.entries(specs.kernelspecs)) {
    const provisioner = spec?.metadata?.kernel_provisioner as
      | { config?: { environment?: unknown } }
      | undefined;
    const environment = provisioner?.config?.environment;
    if (!spec || !name.startsWith('project-') || typeof environment !== 'string') {
      continue;
    }
    if (environment.startsWith(`${root}/`)) {
      found.push({ label: spec.display_name, path: environment.slice(root.length + 1) });
    }
  }
  return found.sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * The value of `metadata["project-kernels"]["environment"]` that names `environment`
 * (below the root) for the notebook at `notebookPath` (below the root): relative to the
 * notebook, so that the project can move and the notebook still names its environment.
 */
export function notebookKey(notebookPath: string, environment: string): string {
  const from = `/${PathExt.dirname(notebookPath)}`;
  return PathExt.relative(from, `/${environment}`) || '.';
}
