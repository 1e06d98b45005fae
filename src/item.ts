import type { ISessionContext } from '@jupyterlab/apputils';
import type { ServerConnection, Kernel } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { IPlan, ISlurmJob, kernelPlan, slurmJobs } from './api';
import { ILabel, planLabel, queuedJob, queuedLabel } from './label';

/** Kernel states after which the launch plan may have changed (a restart). */
const RELAUNCHING = new Set<Kernel.Status>(['starting', 'restarting', 'autorestarting']);

/** What the session context shows while a kernel is on its way (queued as a Slurm job, say). */
const WAITING = new Set<string>(['initializing', 'starting', 'restarting', 'autorestarting']);

/** Milliseconds before asking whether a starting kernel waits in a queue, then between asks. */
const QUEUE_FIRST_ASK = 1000;
const QUEUE_ASK_EVERY = 3000;

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
    if (this._queued) {
      return queuedLabel(this._queued);
    }
    return this._plan ? planLabel(this._plan) : null;
  }

  /** The Slurm job the kernel waits for in the queue; null when it does not wait. */
  get queued(): ISlurmJob | null {
    return this._queued;
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
    this._setQueued(null);
    void this.refresh();
    this._watchQueue();
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
    this._stopWatching();
    Signal.clearData(this);
  }

  private _onKernelChanged(): void {
    this._relaunching = false;
    this._forgetQueueUnlessWaiting();
    void this.refresh();
    this._watchQueue();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    this._forgetQueueUnlessWaiting();
    if (RELAUNCHING.has(status)) {
      this._relaunching = true;
      this._watchQueue();
    } else if (status === 'idle' && this._relaunching) {
      this._relaunching = false;
      void this.refresh();
    }
  }

  /**
   * While the kernel is on its way (the session has none yet, or it is starting), ask
   * the server now and then whether it waits as a queued Slurm job: jupyter_server
   * answers the session's start only once the kernel runs, so JupyterLab itself knows
   * no more than "starting".
   */
  private _watchQueue(): void {
    if (this._queueTimer !== null || this._jobsUnavailable || !this._waiting()) {
      return;
    }
    const ask = async () => {
      const job = this._waiting() ? await this._queuedJob() : null;
      this._setQueued(this._waiting() ? job : null);
      this._queueTimer = this._waiting() ? setTimeout(ask, QUEUE_ASK_EVERY) : null;
    };
    this._queueTimer = setTimeout(ask, QUEUE_FIRST_ASK);
  }

  private _stopWatching(): void {
    if (this._queueTimer !== null) {
      clearTimeout(this._queueTimer);
      this._queueTimer = null;
    }
  }

  private _waiting(): boolean {
    const context = this._context;
    return context !== null && !context.isDisposed && WAITING.has(context.kernelDisplayStatus);
  }

  /** The notebook's kernel's job if it is queued: among the server's kernels' jobs, by path. */
  private async _queuedJob(): Promise<ISlurmJob | null> {
    const path = this._context?.path;
    const kernelId = this._context?.session?.kernel?.id ?? null;
    try {
      const jobs = await slurmJobs(this._settings);
      if (jobs === null) {
        this._jobsUnavailable = true; // no server extension: nothing will ever be queued
        return null;
      }
      return path ? queuedJob(jobs, path, kernelId) : null;
    } catch (error) {
      return null;
    }
  }

  private _forgetQueueUnlessWaiting(): void {
    if (!this._waiting()) {
      this._setQueued(null);
    }
  }

  private _setQueued(job: ISlurmJob | null): void {
    if (job?.job_id !== this._queued?.job_id || job?.text !== this._queued?.text) {
      this._queued = job;
      this._changed.emit();
    }
  }

  private _context: ISessionContext | null = null;
  private _plan: IPlan | null = null;
  private _requests = 0;
  private _relaunching = false;
  private _queued: ISlurmJob | null = null;
  private _queueTimer: ReturnType<typeof setTimeout> | null = null;
  private _jobsUnavailable = false;
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
