import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { ILauncher } from '@jupyterlab/launcher';
import type { IDisposable } from '@lumino/disposable';

import { IPlan, whichPlan } from './api';
import { planLabel } from './label';

/** The command behind the launcher's card. */
export const NEW_NOTEBOOK_COMMAND = 'project-kernels:new-notebook';

/** Milliseconds an answer for a directory is shown before it is asked again. */
const FRESH_FOR = 10_000;

interface IAnswer {
  text: string;
  at: number;
}

/**
 * A card in the launcher's Notebook section naming the environment of the launcher's
 * directory (`analysis/.venv · Python 3.12`); it opens a new notebook there.
 *
 * The launcher asks a command's label for its directory (`args.cwd`) when it draws
 * the card, synchronously; the answer comes from the server's `which` endpoint, so
 * the first drawing says "finding" and the card is drawn again once the answer is in.
 */
export async function addLauncherCard(app: JupyterFrontEnd, launcher: ILauncher): Promise<void> {
  const settings = app.serviceManager.serverSettings;
  // Without the server extension (not enabled) there is nothing to say.
  if ((await whichPlan('', settings).catch(() => null)) === null) {
    return;
  }
  const answers = new Map<string, IAnswer>();
  const asking = new Set<string>();
  let card: IDisposable | null = null;
  let options: ILauncher.IItemOptions;

  const ask = (cwd: string) => {
    if (asking.has(cwd)) {
      return;
    }
    asking.add(cwd);
    void whichPlan(cwd, settings)
      .catch(() => null)
      .then((plan: IPlan | null) => {
        asking.delete(cwd);
        const text = (plan && planLabel(plan)?.text) || 'Python';
        const before = answers.get(cwd)?.text;
        answers.set(cwd, { text, at: Date.now() });
        if (text !== before) {
          // Adding the card again makes every launcher draw it anew.
          card?.dispose();
          card = launcher.add(options);
        }
      });
  };

  const labelFor = (cwd: string): string => {
    const answer = answers.get(cwd);
    if (!answer || Date.now() - answer.at > FRESH_FOR) {
      ask(cwd);
    }
    return answer?.text ?? 'Python: finding the environment…';
  };

  app.commands.addCommand(NEW_NOTEBOOK_COMMAND, {
    label: args => labelFor(String(args.cwd ?? '')),
    caption: args =>
      `A new notebook here, running in ${labelFor(String(args.cwd ?? ''))} (the environment of this directory)`,
    execute: args =>
      app.commands.execute('notebook:create-new', {
        cwd: String(args.cwd ?? ''),
        kernelName: 'python3'
      })
  });

  await app.serviceManager.kernelspecs.ready;
  const python3 = app.serviceManager.kernelspecs.specs?.kernelspecs['python3'];
  options = {
    command: NEW_NOTEBOOK_COMMAND,
    category: 'Notebook',
    rank: 0,
    kernelIconUrl: python3?.resources['logo-svg'] || python3?.resources['logo-64x64'],
    metadata: { kernel: { name: 'python3' } }
  };
  card = launcher.add(options);
}
