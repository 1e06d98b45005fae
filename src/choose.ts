import { InputDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import type { NotebookPanel } from '@jupyterlab/notebook';

import type { IPlan } from './api';
import { IChoosable, METADATA_KEY, notebookKey } from './listed';

/** What the dialog offers to go back to what the project (or discovery) chooses. */
export const PROJECTS_CHOICE = "The project's environment (forget this notebook's choice)";

/**
 * Ask which listed environment this notebook runs in, write it into the notebook's
 * metadata, save the notebook and restart its kernel there. Resolves to whether
 * anything changed.
 */
export async function chooseEnvironment(
  panel: NotebookPanel,
  choices: IChoosable[],
  plan: IPlan | null
): Promise<boolean> {
  const model = panel.context.model;
  const ownChoice = plan?.chosen_by?.level === 'notebook';
  const items = choices.map(choice => choice.label);
  if (ownChoice) {
    items.push(PROJECTS_CHOICE);
  }
  const current = choices.findIndex(choice => plan?.relative === choice.path);
  const result = await InputDialog.getItem({
    title: 'Run this notebook in',
    label: 'The environment this notebook runs in, saved in its metadata:',
    items,
    current: Math.max(current, 0),
    okLabel: 'Choose and restart'
  });
  if (!result.button.accept || result.value === null) {
    return false;
  }
  const kept = { ...((model.getMetadata(METADATA_KEY) as object | undefined) ?? {}) };
  const chosen = choices.find(choice => choice.label === result.value);
  if (chosen) {
    model.setMetadata(METADATA_KEY, {
      ...kept,
      environment: notebookKey(panel.context.path, chosen.path)
    });
  } else {
    delete (kept as { environment?: string }).environment;
    if (Object.keys(kept).length) {
      model.setMetadata(METADATA_KEY, kept);
    } else {
      model.deleteMetadata(METADATA_KEY);
    }
  }
  // The server reads the saved notebook when the kernel starts.
  await panel.context.save();
  await panel.sessionContext.restartKernel();
  return true;
}

/** The server's root directory, as JupyterLab's page knows it ('' when it does not). */
export function serverRoot(): string {
  return PageConfig.getOption('serverRoot');
}
