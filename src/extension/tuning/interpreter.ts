/**
 * Which Python runs the local trainer: the setting, else the interpreter selected in the Python
 * extension when it is installed, else the first of the usual interpreters that has PyTorch
 * (`python3` first; on Debian, `/usr/bin/python3` is the one that has `python3-torch` when a
 * pyenv or conda `python3` comes first on the PATH), else `python3`.
 */
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

export interface Interpreter {
  readonly path: string;
  readonly source: 'setting' | 'python extension' | 'found with PyTorch' | 'default';
}

const CANDIDATES = ['python3', '/usr/bin/python3', '/usr/local/bin/python3', 'python'];
let probed: Promise<string | undefined> | undefined;

function hasTorch(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    // From a neutral folder, so no module of the workspace can shadow torch.
    execFile(python, ['-c', 'import torch'], { timeout: 20_000, windowsHide: true, cwd: tmpdir() }, (err) => resolve(err === null));
  });
}

async function firstWithTorch(): Promise<string | undefined> {
  for (const c of CANDIDATES) if (await hasTorch(c)) return c;
  return undefined;
}

export async function resolveInterpreter(scope: vscode.Uri | undefined): Promise<Interpreter> {
  const setting = vscode.workspace.getConfiguration('sftStudio.python', scope).get<string>('interpreter')?.trim();
  if (setting) return { path: setting, source: 'setting' };
  if (vscode.extensions.getExtension('ms-python.python') !== undefined) {
    try {
      const api = await PythonExtension.api();
      const active = api.environments.getActiveEnvironmentPath(scope);
      const resolved = await api.environments.resolveEnvironment(active);
      const path = resolved?.executable.uri?.fsPath ?? active.path;
      if (path) return { path, source: 'python extension' };
    } catch {
      // the Python extension is there but not ready: look for one ourselves
    }
  }
  // Nothing runs for an untrusted workspace, not even this probe.
  if (!vscode.workspace.isTrusted) return { path: 'python3', source: 'default' };
  probed ??= firstWithTorch();
  const found = await probed;
  return found !== undefined ? { path: found, source: 'found with PyTorch' } : { path: 'python3', source: 'default' };
}
