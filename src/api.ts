import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * One problem that stops an environment from running a kernel, as the server says it.
 */
export interface IProblem {
  code: string;
  summary: string;
  fix: string;
  /** A few words for labels: `needs ipykernel`. */
  label: string;
  /** The shell command the fix names, for the copy button; null when it names none. */
  command: string | null;
}

/**
 * What a kernel launched from (or would launch from), as the server reports it.
 *
 * The layout of `project_kernels.schema.plan_json`; new fields may appear.
 */
export interface IPlan {
  schema: number;
  mode: string;
  environment: string | null;
  relative: string | null;
  kind: string | null;
  python_version: string | null;
  reason: string;
  problems: IProblem[];
  message?: string;
  /** The environment the project declares but nobody has made (yet). */
  declared?: {
    kind: string;
    project: string;
    declared_by: string;
    environment: string | null;
    shown_command: string;
    summary: string;
    fix: string;
  } | null;
  /** What is being made before the kernel runs there (mode `making`). */
  making?: { what: string; target: string | null; commands: string[] } | null;
  details?: {
    interpreter?: string;
    ipykernel_version?: string | null;
    modules?: string[];
    notes?: string[];
  };
}

/** The server extension's URL prefix, below the base URL. */
export const API_PREFIX = 'project-kernels/api';

/**
 * GET one of the server extension's endpoints.
 *
 * Resolves to null when the endpoint or the kernel is unknown (404): the server
 * extension is not enabled, or the kernel has gone.
 */
export async function requestPlan(
  endPoint: string,
  settings: ServerConnection.ISettings
): Promise<IPlan | null> {
  const url = URLExt.join(settings.baseUrl, API_PREFIX, endPoint);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (response.status === 404) {
    return null;
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response);
  }
  return (await response.json()) as IPlan;
}

/** What the kernel `kernelId` was launched from, recorded at its last (re)start. */
export function kernelPlan(
  kernelId: string,
  settings: ServerConnection.ISettings
): Promise<IPlan | null> {
  return requestPlan(`kernels/${encodeURIComponent(kernelId)}`, settings);
}

/** What a notebook at `path` (or in the directory `path`) would launch from now. */
export function whichPlan(
  path: string,
  settings: ServerConnection.ISettings
): Promise<IPlan | null> {
  return requestPlan(`which?path=${encodeURIComponent(path)}`, settings);
}
