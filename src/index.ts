import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar, Popup, showPopup } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';

import type { IPlan } from './api';
import { chooseEnvironment, serverRoot } from './choose';
import { listedEnvironments } from './listed';
import { EnvironmentItem, EnvironmentModel } from './item';
import { addLauncherCard } from './launcher';
import { IAction, PlanPanel } from './panel';

/** The toolbar item's name, beside the kernel's name (Notebook 7). */
const TOOLBAR_ITEM = 'projectKernelsEnvironment';

/**
 * The environment of the current notebook: in JupyterLab's status bar, or, where there
 * is no status bar (Notebook 7), in each notebook's toolbar after the kernel's name.
 */
const environmentPlugin: JupyterFrontEndPlugin<void> = {
  id: 'project-kernels:environment',
  description: 'Shows which project environment each notebook runs in.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    if (statusBar) {
      inStatusBar(app, tracker, statusBar, labShell);
    } else {
      inToolbars(app);
    }
  }
};

/**
 * A card in the launcher naming the environment of the launcher's directory.
 */
const launcherPlugin: JupyterFrontEndPlugin<void> = {
  id: 'project-kernels:launcher',
  description: "Names the environment of the launcher's directory.",
  autoStart: true,
  // Optional: Notebook 7 has no launcher.
  optional: [ILauncher],
  activate: (app: JupyterFrontEnd, launcher: ILauncher | null) => {
    if (launcher) {
      void addLauncherCard(app, launcher);
    }
  }
};

function inStatusBar(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  statusBar: IStatusBar,
  labShell: ILabShell | null
): void {
  const model = new EnvironmentModel(app.serviceManager.serverSettings);
  let popup: Popup | null = null;
  const item = new EnvironmentItem(model, anchor => {
    if (popup && !popup.isDisposed) {
      popup.dispose();
      return;
    }
    const notebook = tracker.currentWidget;
    if (model.plan && notebook) {
      const close = () => popup?.dispose();
      const actions = choosing(app, notebook, model.plan, close);
      popup = showPopup({ body: new PlanPanel(model.plan, actions), anchor, align: 'left' });
    }
  });
  const follow = () => {
    model.sessionContext = tracker.currentWidget?.sessionContext ?? null;
  };
  tracker.currentChanged.connect(follow);
  follow();
  const activeChanged = new Signal<unknown, void>(model);
  model.changed.connect(() => activeChanged.emit());
  labShell?.currentChanged.connect(() => activeChanged.emit());
  statusBar.registerStatusItem('project-kernels:environment', {
    item,
    align: 'left',
    rank: 4,
    isActive: () =>
      model.label !== null &&
      tracker.currentWidget !== null &&
      (labShell === null || labShell.currentWidget === tracker.currentWidget),
    activeStateChanged: activeChanged
  });
}

function inToolbars(app: JupyterFrontEnd): void {
  const settings = app.serviceManager.serverSettings;
  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (panel: NotebookPanel) => {
      const model = new EnvironmentModel(settings);
      const item = new EnvironmentItem(model, () => {
        if (model.plan) {
          const actions = choosing(app, panel, model.plan, () => dialog.reject());
          const dialog = new Dialog({
            title: 'Where this notebook runs',
            body: new PlanPanel(model.plan, actions),
            buttons: [Dialog.okButton({ label: 'Close' })]
          });
          void dialog.launch();
        }
      });
      const sync = () => item.setHidden(model.label === null);
      model.changed.connect(sync);
      sync();
      model.sessionContext = panel.sessionContext;
      if (!panel.toolbar.insertAfter('kernelName', TOOLBAR_ITEM, item)) {
        panel.toolbar.addItem(TOOLBAR_ITEM, item);
      }
      panel.disposed.connect(() => {
        model.dispose();
        item.dispose();
      });
    }
  });
}

/**
 * The panel's action that picks this notebook's environment among those the kernel
 * picker lists: none when the listing is off (`list_environments`), or when the page
 * does not know the server's root (the listing names environments by absolute path).
 */
function choosing(
  app: JupyterFrontEnd,
  notebook: NotebookPanel,
  plan: IPlan,
  close: () => void
): IAction[] {
  const choices = listedEnvironments(app.serviceManager.kernelspecs.specs, serverRoot());
  if (!choices.length || plan.mode === 'passthrough') {
    return [];
  }
  return [
    {
      label: 'Choose the environment…',
      execute: () => {
        close();
        void chooseEnvironment(notebook, choices, plan);
      }
    }
  ];
}

export default [environmentPlugin, launcherPlugin];
