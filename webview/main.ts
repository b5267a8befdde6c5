/**
 * The tuning panel's page: the form (VS Code look, @vscode-elements), the preflight, live curves
 * (uPlot), progress, the log tail, hard samples and run comparison. Everything it shows arrives
 * by postMessage and goes into the page as text.
 */
import { jobStateWord } from '../src/core/jobState';
import '@vscode-elements/elements';
import uPlot from 'uplot';
import { GEMINI_MODELS, TINY_MODEL, localAdvice, localFormAdvice, vertexAdvice, vertexFormAdvice } from '../src/core/advice';
import { FormValues, formProblems, FromPanel, messageProblem, ToPanel, type HardSampleRow, type Preflight } from '../src/shared/panelProtocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

function send(message: FromPanel): void {
  vscode.postMessage(message);
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: text only, never innerHTML.

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElementTagNameMap[K];
function el(tag: string, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElement;
function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const $ = (id: string): HTMLElement => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} missing`);
  return e;
};

// ---------------------------------------------------------------------------------------------
// The form.

type FieldKey = keyof FormValues;
interface Field {
  readonly key: FieldKey;
  readonly group: HTMLElement;
  readonly helper: HTMLElement;
  read(): unknown;
  write(v: FormValues[FieldKey]): void;
}

const fields = new Map<FieldKey, Field>();
const touched = new Set<FieldKey>();
let samples = 0;
let hasValidationFile = false;
let trusted = true;
let preflight: Preflight | undefined;
let why: Record<string, string> = {};
let current: FormValues | undefined;

interface ValueElement extends HTMLElement {
  value: string;
}
interface CheckElement extends HTMLElement {
  checked: boolean;
}

function textField(key: FieldKey, label: string, kind: 'text' | 'number', hint = ''): Field {
  const input = el('vscode-textfield', { id: `field-${key}`, name: key, 'aria-label': label }) as ValueElement;
  const helper = el('vscode-form-helper', { id: `helper-${key}` });
  const group = el('vscode-form-group', { variant: 'vertical', 'data-field': key }, el('vscode-label', { for: `field-${key}` }, label), input, helper);
  if (hint) group.title = hint;
  input.addEventListener('input', () => changed(key));
  return {
    key, group, helper,
    read: () => {
      const raw = input.value.trim();
      if (kind === 'text') return raw;
      if (raw === '' && (key === 'learningRateMultiplier' || key === 'epochCount')) return null;
      return raw === '' ? Number.NaN : Number(raw);
    },
    write: (v) => {
      input.value = v === null || v === undefined ? '' : String(v);
    },
  };
}

function selectField(key: FieldKey, label: string, options: readonly { value: string; label: string }[]): Field {
  const select = el('vscode-single-select', { id: `field-${key}`, name: key, 'aria-label': label }) as ValueElement;
  for (const o of options) select.append(el('vscode-option', { value: o.value }, o.label));
  const helper = el('vscode-form-helper', { id: `helper-${key}` });
  const group = el('vscode-form-group', { variant: 'vertical', 'data-field': key }, el('vscode-label', { for: `field-${key}` }, label), select, helper);
  select.addEventListener('change', () => changed(key));
  return {
    key, group, helper,
    read: () => (key === 'adapterSize' ? Number(select.value) : select.value),
    write: (v) => {
      select.value = String(v);
    },
  };
}

function checkField(key: FieldKey, label: string): Field {
  const box = el('vscode-checkbox', { id: `field-${key}`, name: key, label }) as CheckElement;
  const helper = el('vscode-form-helper', { id: `helper-${key}` });
  const group = el('vscode-form-group', { variant: 'vertical', 'data-field': key }, box, helper);
  box.addEventListener('change', () => changed(key));
  return {
    key, group, helper,
    read: () => box.checked,
    write: (v) => {
      box.checked = v === true;
    },
  };
}

const LOCAL_FIELDS: FieldKey[] = ['epochs', 'learningRate', 'batchSize', 'gradientAccumulation', 'maxLength', 'method', 'loraRank', 'warmupRatio', 'packing', 'earlyStoppingPatience'];
const VERTEX_FIELDS: FieldKey[] = ['project', 'location', 'bucket', 'epochCount', 'learningRateMultiplier', 'adapterSize'];

function buildForm(): void {
  const list: Field[] = [
    selectField('backend', 'Backend', [{ value: 'local', label: 'Local (this machine)' }, { value: 'vertex', label: 'Vertex AI (Gemini)' }]),
    textField('model', 'Model', 'text', `builtin:tiny trains a small model from scratch on a CPU, with no download; or a Hugging Face id or folder; for Vertex AI: ${GEMINI_MODELS.join(', ')}`),
    textField('trainFile', 'Training file', 'text'),
    textField('validationFile', 'Validation file (empty: hold out a split)', 'text'),
    textField('validationSplit', 'Validation split (fraction held out)', 'number'),
    textField('epochs', 'Epochs', 'number'),
    textField('learningRate', 'Learning rate', 'number'),
    textField('batchSize', 'Batch size', 'number'),
    textField('gradientAccumulation', 'Gradient accumulation', 'number'),
    textField('maxLength', 'Maximum length (tokens)', 'number'),
    selectField('method', 'Method', [{ value: 'lora', label: 'LoRA' }, { value: 'qlora', label: 'QLoRA (4-bit, CUDA)' }, { value: 'full', label: 'Full fine-tuning' }]),
    textField('loraRank', 'LoRA rank', 'number'),
    textField('warmupRatio', 'Warm-up (fraction of steps)', 'number'),
    checkField('packing', 'Pack samples into full rows'),
    textField('earlyStoppingPatience', 'Early stopping patience (evaluations; 0 = off)', 'number'),
    textField('project', 'Google Cloud project', 'text'),
    textField('location', 'Region', 'text'),
    textField('bucket', 'Cloud Storage folder for the data (gs://…)', 'text'),
    textField('epochCount', 'Epochs (empty: the service default)', 'number'),
    textField('learningRateMultiplier', 'Learning-rate multiplier (empty: default)', 'number'),
    selectField('adapterSize', 'Adapter size', [1, 2, 4, 8, 16].map((n) => ({ value: String(n), label: String(n) }))),
  ];
  const form = $('form');
  for (const f of list) {
    fields.set(f.key, f);
    form.append(f.group);
  }
}

function readForm(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of fields) out[k] = f.read();
  return out;
}

function writeForm(values: FormValues): void {
  for (const [k, f] of fields) f.write(values[k]);
}

/** Advice for the backend and model chosen, into every field the user has not typed in. */
function applyAdvice(values: Record<string, unknown>): void {
  const model = String(values.model ?? '');
  const advice = values.backend === 'vertex' ? vertexFormAdvice(vertexAdvice(model, samples)) : localFormAdvice(localAdvice(model, samples, hasValidationFile));
  why = { ...why, ...advice.why };
  for (const [k, v] of Object.entries(advice.values) as [FieldKey, FormValues[FieldKey]][]) if (!touched.has(k)) fields.get(k)?.write(v);
  for (const [k, f] of fields) f.group.title = why[k] ?? '';
}

let preflightTimer: number | undefined;

function changed(key: FieldKey | undefined): void {
  if (key !== undefined) touched.add(key);
  // A model of the other backend makes no sense: switch to that backend's usual one, unless typed.
  if (key === 'backend' && !touched.has('model')) fields.get('model')?.write(readForm().backend === 'vertex' ? GEMINI_MODELS[0] : TINY_MODEL);
  const values = readForm();
  if (key === 'backend' || key === 'model') applyAdvice(values);
  validate();
}

function validate(): void {
  const values = readForm();
  const local = values.backend === 'local';
  for (const k of LOCAL_FIELDS) fields.get(k)!.group.hidden = !local;
  for (const k of VERTEX_FIELDS) fields.get(k)!.group.hidden = local;
  const problems = formProblems(values);
  for (const [k, f] of fields) {
    const p = problems[k];
    f.helper.textContent = p ?? '';
    f.group.classList.toggle('invalid', p !== undefined);
  }
  const parsed = FormValues.safeParse(values);
  current = parsed.success ? parsed.data : undefined;
  updateButtons();
  if (current !== undefined) {
    if (preflightTimer !== undefined) clearTimeout(preflightTimer);
    const form = current;
    preflightTimer = window.setTimeout(() => send({ type: 'preflight', form }), 150);
  }
}

// ---------------------------------------------------------------------------------------------
// Runs: curves, progress, log, hard samples.

interface RunView {
  id: string;
  label: string;
  train: [number, number][];
  evals: [number, number][];
  trainAcc: [number, number][];
  evalAcc: [number, number][];
  lr: [number, number][];
  status: string;
  step: number;
  total: number;
  /** A remote job (Vertex AI): the service reports no learning rate. */
  remote: boolean;
}

let run: RunView | undefined;
const charts = new Map<string, uPlot>();

function color(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

/** x values shared by several series, with null where a series has no point. */
function align(series: readonly (readonly [number, number][])[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = series.map((s) => {
    const m = new Map(s.map((p) => [p[0], p[1]]));
    return xs.map((x) => m.get(x) ?? null);
  });
  return [xs, ...ys] as uPlot.AlignedData;
}

function drawChart(id: string, title: string, names: string[], series: (readonly [number, number][])[]): void {
  const host = $(id);
  const data = align(series);
  host.dataset.points = String(series[0]?.length ?? 0);
  host.dataset.evalPoints = String(series[1]?.length ?? 0);
  const existing = charts.get(id);
  if (existing !== undefined && existing.series.length === names.length + 1) {
    existing.setData(data);
    return;
  }
  existing?.destroy();
  const palette = [color('--vscode-charts-blue', '#3794ff'), color('--vscode-charts-orange', '#d18616'), color('--vscode-charts-green', '#89d185'), color('--vscode-charts-purple', '#b180d7'), color('--vscode-charts-red', '#f14c4c')];
  const fg = color('--vscode-foreground', '#cccccc');
  const grid = color('--vscode-editorWidget-border', '#454545');
  const chart = new uPlot(
    {
      title, width: Math.max(240, host.clientWidth || 480), height: 180,
      scales: { x: { time: false } },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, label: 'step' },
        // Learning rates are small: 2e-4, not 0.000.
        { stroke: fg, grid: { stroke: grid, width: 1 }, size: 64, values: (_u: uPlot, ticks: number[]) => ticks.map((v) => (v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(1) : String(+v.toFixed(3)))) },
      ],
      series: [{ label: 'step' }, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2, spanGaps: true, points: { show: (series[i]?.length ?? 0) < 40 } }))],
      legend: { show: true },
    },
    data,
    host,
  );
  charts.set(id, chart);
}

function redrawAll(): void {
  if (run === undefined) return;
  drawChart('chart-loss', 'Loss', ['train', 'eval'], [run.train, run.evals]);
  drawChart('chart-accuracy', 'Next-token accuracy (model turns)', ['train', 'eval'], [run.trainAcc, run.evalAcc]);
  $('chart-lr').hidden = run.remote && run.lr.length === 0;
  if (!$('chart-lr').hidden) drawChart('chart-lr', 'Learning rate', ['learning rate'], [run.lr]);
}

const fmt = (n: unknown, d = 3) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(d) : '–');

function logLine(text: string): void {
  const log = $('log');
  log.append(el('div', {}, text));
  while (log.childElementCount > 200) log.firstElementChild?.remove();
  log.scrollTop = log.scrollHeight;
}

function onEvents(runId: string, label: string, events: Record<string, unknown>[], reset: boolean): void {
  if (reset || run === undefined || run.id !== runId) {
    run = { id: runId, label, train: [], evals: [], trainAcc: [], evalAcc: [], lr: [], status: 'starting', step: 0, total: 0, remote: false };
    $('log').replaceChildren();
    $('hard').replaceChildren();
    $('overfitting').hidden = true;
    $('job').hidden = true;
    $('try-it').hidden = true;
    $('try-answers').replaceChildren();
    vscode.setState({ ...(vscode.getState() as object | undefined), runId });
    $('run').hidden = false;
    $('run').scrollIntoView({ block: 'start' });
  }
  const r = run;
  for (const e of events) {
    switch (e.event) {
      case 'started':
        r.status = 'running';
        r.total = Number(e.total_steps ?? 0);
        logLine(`started on ${String(e.device)}: ${String(e.model)}${e.method ? `, ${String(e.method)}` : ''}`);
        break;
      case 'progress':
        r.step = Number(e.step);
        r.total = Number(e.total_steps);
        $('eta').textContent = typeof e.eta_seconds === 'number' ? `ETA ${Math.ceil(e.eta_seconds)} s` : '';
        break;
      case 'metrics': {
        const step = Number(e.step);
        if (e.split === 'train') {
          if (typeof e.loss === 'number') r.train.push([step, e.loss]);
          if (typeof e.accuracy === 'number') r.trainAcc.push([step, e.accuracy]);
          if (typeof e.learning_rate === 'number') r.lr.push([step, e.learning_rate]);
        } else {
          if (typeof e.loss === 'number') r.evals.push([step, e.loss]);
          if (typeof e.accuracy === 'number') r.evalAcc.push([step, e.accuracy]);
          logLine(`step ${step}: eval loss ${fmt(e.loss)}, accuracy ${fmt(e.accuracy)}`);
        }
        break;
      }
      case 'warning':
        logLine(`warning: ${String(e.text)}`);
        break;
      case 'error':
        logLine(`error: ${String(e.message)}${e.hint ? ` (${String(e.hint)})` : ''}`);
        break;
      case 'checkpoint':
        logLine(`checkpoint at step ${String(e.step)}`);
        break;
      case 'job':
        r.remote = true;
        showJob(e);
        break;
      case 'finished':
        r.status = String(e.status);
        logLine(`finished: ${String(e.status)}${e.adapter ? `, adapter ${String(e.adapter)}` : ''}`);
        break;
      default:
        break;
    }
  }
  const bar = $('progress') as HTMLElement & { value: number; max: number };
  bar.max = Math.max(1, r.total);
  bar.value = r.step;
  $('run-title').textContent = r.label;
  $('status').textContent = r.status === 'running' ? `running: step ${r.step} of ${r.total}` : r.status === 'starting' ? 'starting…' : `finished: ${r.status}`;
  $('status').dataset.status = r.status;
  $('run').hidden = false;
  redrawAll();
  updateButtons();
}

/** A remote job's facts: its name and state, the service's data statistics, the tuned model. */
function showJob(e: Record<string, unknown>): void {
  const box = $('job');
  box.hidden = false;
  const facts: [string, string][] = [['Job', String(e.name)], ['State', jobStateWord(String(e.state))]];
  const stats = (e.data_stats ?? null) as Record<string, unknown> | null;
  const count = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US') : '–');
  if (stats !== null) {
    facts.push(['Examples', count(stats.examples)], ['Billable tokens', count(stats.billable_tokens)], ['Steps', count(stats.steps)]);
    if (typeof stats.truncated === 'number' && stats.truncated > 0) facts.push(['Truncated by the service', count(stats.truncated)]);
  }
  const tuned = (e.tuned_model ?? null) as Record<string, unknown> | null;
  if (tuned !== null && typeof tuned.endpoint === 'string') facts.push(['Tuned model endpoint', tuned.endpoint]);
  if (tuned !== null && typeof tuned.model === 'string') facts.push(['Tuned model', tuned.model]);
  const err = (e.error ?? null) as Record<string, unknown> | null;
  if (err !== null && typeof err.message === 'string') facts.push(['Error', err.message]);
  const list = el('dl', { id: 'job-facts' });
  for (const [k, v] of facts) list.append(el('dt', {}, k), el('dd', { 'data-fact': k }, v));
  box.replaceChildren(el('h3', {}, 'Vertex AI job'), list);
  box.dataset.state = String(e.state);
  $('try-it').hidden = !(tuned !== null && typeof tuned.endpoint === 'string' && e.state === 'JOB_STATE_SUCCEEDED');
}

function showTryIt(m: Extract<ToPanel, { type: 'tryItResult' }>): void {
  const host = $('try-answers');
  const column = (title: string, a: { model: string; text: string | null; error: string | null }, id: string) =>
    el('div', { class: 'try-answer', id, 'data-ok': String(a.error === null) }, el('h4', {}, title), el('div', { class: 'try-model' }, a.model), el('div', { class: 'try-text' }, a.error === null ? (a.text ?? '') : `error: ${a.error}`));
  host.replaceChildren(column('Base model', m.base, 'try-base'), column('Tuned model', m.tuned, 'try-tuned'));
  ($('try-send') as HTMLElement & { disabled: boolean }).disabled = false;
}

function showHardSamples(items: HardSampleRow[]): void {
  const host = $('hard');
  host.replaceChildren();
  if (items.length === 0) return;
  host.append(el('h3', {}, 'Hard samples (highest loss first)'));
  const list = el('ol', { class: 'hard-list' });
  for (const h of items) {
    const button = el('button', { class: 'hard-sample', type: 'button', 'data-line': String(h.line), title: `reveal line ${h.line}` },
      el('span', { class: 'hard-where' }, `line ${h.line} · loss ${fmt(h.loss, 2)} · top ${h.topPercent} %`),
      el('span', { class: 'hard-preview' }, h.preview));
    button.addEventListener('click', () => send({ type: 'reveal', file: h.file, line: h.line }));
    list.append(el('li', {}, button));
  }
  host.append(list);
}

function updateButtons(): void {
  const running = run !== undefined && (run.status === 'running' || run.status === 'starting');
  const start = $('start') as HTMLElement & { disabled: boolean };
  const anyway = $('launch-anyway');
  const blocked = preflight?.blocking === true;
  start.disabled = current === undefined || running || !trusted || blocked;
  anyway.hidden = !blocked || running || current === undefined || !trusted;
  ($('cancel') as HTMLElement & { disabled: boolean }).disabled = !running;
  $('cancel').hidden = !running;
}

function showPreflight(p: Preflight): void {
  preflight = p;
  const parts = [
    `${p.samples.toLocaleString('en-US')} samples`,
    `~${p.tokens.toLocaleString('en-US')} tokens`,
    `~${p.steps.toLocaleString('en-US')} steps`,
    `${p.errors} lint error${p.errors === 1 ? '' : 's'}`,
    `${p.duplicates} duplicate${p.duplicates === 1 ? '' : 's'}`,
    `${p.leakage} leaking into validation`,
    `${p.overLength} over the length limit`,
  ];
  $('preflight').textContent = parts.join(' · ');
  $('preflight').classList.toggle('blocking', p.blocking);
  $('preflight-block').textContent = p.blocking ? `${p.errors} lint error${p.errors === 1 ? '' : 's'} in the dataset: fix them first, or launch anyway.` : '';
  updateButtons();
}

// ---------------------------------------------------------------------------------------------

function onMessage(raw: unknown): void {
  const problem = messageProblem(ToPanel, raw);
  if (problem !== undefined) {
    logLine(`ignored a malformed message from the extension: ${problem}`);
    return;
  }
  const m = ToPanel.parse(raw);
  switch (m.type) {
    case 'init':
      samples = m.dataset.samples;
      hasValidationFile = m.validation.path !== null;
      trusted = m.trusted;
      why = m.why;
      $('dataset').textContent = `${m.dataset.name} · ${m.dataset.samples.toLocaleString('en-US')} samples${m.validation.path ? ` · validation: ${m.validation.path}${m.validation.paired ? ' (paired by name)' : ''}` : ''}`;
      $('interpreter').textContent = `Python: ${m.interpreter}`;
      $('untrusted').hidden = m.trusted;
      writeForm(m.form);
      for (const [k, f] of fields) f.group.title = why[k] ?? '';
      vscode.setState({ ...(vscode.getState() as object | undefined), datasetPath: m.dataset.path });
      validate();
      break;
    case 'preflight':
      showPreflight(m.preflight);
      break;
    case 'runEvents':
      onEvents(m.runId, m.label, m.events, m.reset);
      break;
    case 'log':
      if (run?.id === m.runId) for (const l of m.lines) logLine(l);
      break;
    case 'overfitting': {
      const box = $('overfitting');
      box.hidden = false;
      $('overfitting-text').textContent = `Overfitting: the validation loss has risen since step ${m.sinceStep} while the training loss keeps falling. The best checkpoint is at step ${m.bestStep} (eval loss ${fmt(m.bestEvalLoss)}).`;
      break;
    }
    case 'hardSamples':
      showHardSamples(m.items);
      break;
    case 'runs':
      break;
    case 'compare': {
      $('compare').hidden = false;
      const names = m.series.flatMap((s) => [`${s.label} train`, `${s.label} eval`]);
      drawChart('chart-compare', 'Runs compared: loss', names, m.series.flatMap((s) => [s.train, s.eval]));
      break;
    }
    case 'tryItResult':
      if (run?.id === m.runId) showTryIt(m);
      break;
    case 'notice':
      $('notice').textContent = m.text;
      $('notice').dataset.level = m.level;
      break;
  }
}

function main(): void {
  buildForm();
  $('start').addEventListener('click', () => {
    if (current !== undefined) send({ type: 'start', form: current, launchAnyway: false });
  });
  $('launch-anyway').addEventListener('click', () => {
    if (current !== undefined) send({ type: 'start', form: current, launchAnyway: true });
  });
  $('cancel').addEventListener('click', () => {
    if (run !== undefined) send({ type: 'cancel', runId: run.id });
  });
  $('stop-at-best').addEventListener('click', () => {
    if (run !== undefined) send({ type: 'stopAtBest', runId: run.id });
  });
  $('try-send').addEventListener('click', () => {
    const prompt = ($('try-prompt') as ValueElement).value.trim();
    if (run === undefined || prompt === '') return;
    ($('try-send') as HTMLElement & { disabled: boolean }).disabled = true;
    $('try-answers').replaceChildren(el('div', { class: 'try-waiting' }, 'asking both models…'));
    send({ type: 'tryIt', runId: run.id, prompt });
  });
  window.addEventListener('message', (e: MessageEvent<unknown>) => onMessage(e.data));
  // Theme changes restyle the page through CSS variables; the canvases need a redraw.
  new MutationObserver(() => {
    for (const c of charts.values()) c.destroy();
    charts.clear();
    redrawAll();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  new ResizeObserver(() => {
    for (const [id, c] of charts) c.setSize({ width: Math.max(240, $(id).clientWidth), height: 180 });
  }).observe($('charts'));
  send({ type: 'ready' });
}

main();
