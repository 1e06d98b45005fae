import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar, Popup, showPopup } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';

import { EnvironmentItem, EnvironmentModel } from './item';
import { addLauncherCard } from './launcher';
import { PlanPanel } from './panel';

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
    if (model.plan) {
      popup = showPopup({ body: new PlanPanel(model.plan), anchor, align: 'left' });
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
          void showDialog({
            title: 'Where this notebook runs',
            body: new PlanPanel(model.plan),
            buttons: [Dialog.okButton({ label: 'Close' })]
          });
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

export default [environmentPlugin, launcherPlugin];
