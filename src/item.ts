import type { ISessionContext } from '@jupyterlab/apputils';
import type { ServerConnection, Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IPlan, kernelPlan } from './api';
import { ILabel, planLabel } from './label';

/** Kernel states after which the launch plan may have changed (a restart). */
const RELAUNCHING = new Set<Kernel.Status>(['starting', 'restarting', 'autorestarting']);

/**
 * The launch plan of one notebook's kernel, kept current.
 *
 * Fetched when the notebook gets a kernel or another one, and again when the kernel
 * is idle after a (re)start: the server records the plan at every start.
 */
export class EnvironmentModel {
  constructor(private readonly _settings: ServerConnection.ISettings) {}

  /** The plan of the current kernel; null when there is none, or nothing to show. */
  get plan(): IPlan | null {
    return this._plan;
  }

  /** What to show; null to show nothing. */
  get label(): ILabel | null {
    return this._plan ? planLabel(this._plan) : null;
  }

  /** Emitted when the plan changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook's session context being followed (null: none). */
  get sessionContext(): ISessionContext | null {
    return this._context;
  }
  set sessionContext(context: ISessionContext | null) {
    if (context === this._context) {
      return;
    }
    if (this._context) {
      this._context.kernelChanged.disconnect(this._onKernelChanged, this);
      this._context.statusChanged.disconnect(this._onStatusChanged, this);
    }
    this._context = context;
    if (context) {
      context.kernelChanged.connect(this._onKernelChanged, this);
      context.statusChanged.connect(this._onStatusChanged, this);
    }
    this._relaunching = false;
    void this.refresh();
  }

  /** Ask the server again what the current kernel was launched from. */
  async refresh(): Promise<void> {
    const request = ++this._requests;
    const kernelId = this._context?.session?.kernel?.id;
    let plan: IPlan | null = null;
    if (kernelId) {
      try {
        plan = await kernelPlan(kernelId, this._settings);
      } catch (error) {
        console.warn('project-kernels: cannot ask which environment the kernel runs in', error);
      }
    }
    if (request === this._requests) {
      this._plan = plan;
      this._changed.emit();
    }
  }

  /** Stop following the session context. */
  dispose(): void {
    this.sessionContext = null;
    Signal.clearData(this);
  }

  private _onKernelChanged(): void {
    this._relaunching = false;
    void this.refresh();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (RELAUNCHING.has(status)) {
      this._relaunching = true;
    } else if (status === 'idle' && this._relaunching) {
      this._relaunching = false;
      void this.refresh();
    }
  }

  private _context: ISessionContext | null = null;
  private _plan: IPlan | null = null;
  private _requests = 0;
  private _relaunching = false;
  private _changed = new Signal<this, void>(this);
}

/**
 * The environment's label, for the status bar or a notebook's toolbar; clicking it
 * calls `onClick` (which opens the details). Its host hides it while `model.label`
 * is null.
 */
export class EnvironmentItem extends Widget {
  constructor(
    readonly model: EnvironmentModel,
    onClick: (item: EnvironmentItem) => void
  ) {
    super();
    this.addClass('jp-ProjectKernels-item');
    this.node.title = 'The environment this notebook runs in: click for details';
    this.node.tabIndex = 0;
    this.node.addEventListener('click', () => onClick(this));
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        onClick(this);
      }
    });
    model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const label = this.model.label;
    this.node.textContent = label?.text ?? '';
    this.toggleClass('jp-ProjectKernels-warning', label?.warning ?? false);
  }
}
